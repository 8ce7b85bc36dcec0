"""Token counting: the built-in tokenizer's rules, and a local Hugging Face tokenizer."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

from llmobs.errors import ConfigError
from llmobs.sim.tokenizer import BasicTokenizer, HFTokenizer, load


def test_basic_rules() -> None:
    tok = BasicTokenizer()
    assert tok.count(" the" * 37) == 37
    # "Hell" "o" "," " worl" "d" "!"
    assert tok.count("Hello, world!") == 6
    assert tok.count("<|im_start|>user\nhi<|im_end|>\n") == 6
    assert tok.count("  \n") == 3
    assert tok.count("12345") == 2
    assert tok.encode("same text") == tok.encode("same text")  # stable ids


def test_basic_output_text_has_the_exact_length() -> None:
    tok = BasicTokenizer()
    for n in (1, 7, 100):
        assert tok.count("".join(tok.output_text(0, n))) == n


def test_basic_chat_template() -> None:
    tok = BasicTokenizer()
    text = tok.render_chat(
        [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": [{"type": "text", "text": "hi"}]},
        ]
    )
    assert text == (
        "<|im_start|>system\nbe brief<|im_end|>\n<|im_start|>user\nhi<|im_end|>\n"
        "<|im_start|>assistant\n"
    )


@pytest.fixture(scope="module")
def hf_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("tok")
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=300,
        special_tokens=["<unk>", "<s>", "</s>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(["the model serves the tokens of the prompt"] * 50, trainer)
    tok.save(str(folder / "tokenizer.json"))
    (folder / "tokenizer_config.json").write_text(
        json.dumps(
            {
                "bos_token": "<s>",
                "eos_token": "</s>",
                "chat_template": "{% for m in messages %}[{{ m['role'] }}]{{ m['content'] }}"
                "{% endfor %}{% if add_generation_prompt %}[assistant]{% endif %}",
            }
        )
    )
    return folder


def test_hugging_face_tokenizer(hf_folder: Path) -> None:
    tok = load(hf_folder)
    assert isinstance(tok, HFTokenizer)
    reference = Tokenizer.from_file(str(hf_folder / "tokenizer.json"))
    text = "the model serves the prompt"
    assert tok.encode(text) == reference.encode(text).ids
    assert tok.render_chat([{"role": "user", "content": "hi"}]) == "[user]hi[assistant]"
    out = "".join(tok.output_text(0, 9))
    assert len(tok.encode(out, special=False)) == 9


def test_not_a_tokenizer_folder(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"no tokenizer\.json"):
        load(tmp_path)


def test_basic_tokenizer_decodes_what_it_encoded_and_keeps_counts() -> None:
    tok = BasicTokenizer()
    text = "The quick brown fox, 12345 jumps!\n over"
    assert tok.decode(tok.encode(text)) == text
    unknown = [1, 2, 3]  # ids it never produced: one token each, so lengths survive
    assert tok.count(tok.decode(unknown)) == 3
