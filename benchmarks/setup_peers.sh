#!/usr/bin/env bash
# What the llmbench benchmarks need beyond scripts/setup: nginx for bench_workers.py, and the
# peers bench_accuracy.py measures llmbench against, each in its own venv:
# vllm bench serve comes with the CPU vLLM (scripts/real-vllm/setup.sh); guidellm is built
# here into ~/.cache/llmobs/guidellm-venv (idempotent). guidellm needs torch: the CPU wheel
# (a plain install pulls gigabytes of CUDA packages).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/real-vllm/setup.sh
# bench_workers.py's near-free server
if ! command -v nginx >/dev/null 2>&1 && [ ! -x /usr/sbin/nginx ]; then
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends nginx-light
  if command -v service >/dev/null 2>&1; then $sudo service nginx stop >/dev/null 2>&1 || true; fi
fi
cache="${LLMOBS_CACHE:-$HOME/.cache/llmobs}"
venv="$cache/guidellm-venv"
if [ -f "$venv/.complete" ]; then
  echo "guidellm: $venv"
  exit 0
fi
rm -rf "$venv"
python3.11 -m venv "$venv"
"$venv/bin/pip" install --quiet --upgrade pip
if ls /opt/wheels/torch-*.whl >/dev/null 2>&1; then
  "$venv/bin/pip" install --quiet --find-links /opt/wheels torch
else
  "$venv/bin/pip" install --quiet torch --index-url https://download.pytorch.org/whl/cpu
fi
"$venv/bin/pip" install --quiet "guidellm==0.8.1"
touch "$venv/.complete"
echo "guidellm: $venv"
