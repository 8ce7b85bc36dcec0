"""Build the tiny random-weight Llama that the real-vLLM end-to-end tests serve.

Run with the Python of the vLLM virtual environment (it has torch, tokenizers and
transformers); no hub access. The output is deterministic: a byte-level BPE
tokenizer trained on generated text and a 2-layer Llama with seeded weights.

Usage: python make_tiny_model.py OUTPUT_DIR
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "<|{{ message['role'] }}|>\n{{ message['content'] }}\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)


def corpus(lines: int) -> list[str]:
    """Deterministic English-like text so the tokenizer is the same on every machine."""
    rng = random.Random(0)
    words = [
        "the",
        "a",
        "model",
        "token",
        "prompt",
        "cache",
        "request",
        "server",
        "latency",
        "decode",
        "prefill",
        "queue",
        "batch",
        "memory",
        "scale",
        "metric",
        "role",
        "pod",
        "replica",
        "throughput",
        "time",
        "first",
        "output",
        "input",
        "kubernetes",
        "engine",
        "stream",
        "value",
        "window",
        "bucket",
        "histogram",
        "gauge",
        "counter",
        "rate",
    ]
    out = []
    for _ in range(lines):
        n = rng.randint(4, 16)
        out.append(" ".join(rng.choice(words) for _ in range(n)) + f" {rng.randint(0, 9999)}.")
    return out


def main(out_dir: Path) -> None:
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    out_dir.mkdir(parents=True, exist_ok=True)
    special = ["<unk>", "<s>", "</s>", "<|user|>", "<|assistant|>", "<|system|>"]
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=2000,
        special_tokens=special,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(corpus(20000), trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<s>",
        eos_token="</s>",
        unk_token="<unk>",
        chat_template=CHAT_TEMPLATE,
    )
    fast.save_pretrained(out_dir)

    torch.manual_seed(0)
    config = LlamaConfig(
        hidden_size=128,
        intermediate_size=256,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        vocab_size=len(fast),
        max_position_embeddings=4096,
        bos_token_id=fast.bos_token_id,
        eos_token_id=fast.eos_token_id,
        torch_dtype="bfloat16",
    )
    LlamaForCausalLM(config).to(torch.bfloat16).save_pretrained(out_dir)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: make_tiny_model.py OUTPUT_DIR")
    main(Path(sys.argv[1]))
