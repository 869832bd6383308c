"""Build the offline assets of the GPU proof (runs on the GPU machine; needs torch, transformers, tokenizers).

- data/raw/identity.json: LLaMA-Factory's identity set as shipped, with {{name}}/{{author}} (scowspec fills them);
- data/filled/identity.json: the same rows already filled, for the tutorial's literal command (which cannot);
- tokenizer: byte-level BPE (1,000 tokens) trained on the rows, with Qwen's chat special tokens;
- models/tiny: a 2-layer Qwen2 with random weights (correctness runs);
- models/id4m: a 4-layer Qwen2 (4.2 M parameters) that can memorise the identity rows (verification runs);
- models/qwen15b: Qwen2.5-1.5B-Instruct's architecture (28 layers, hidden 1536, vocab 151936), random bf16 weights.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM

FILL = {"name": "北大人工智能助手", "author": "北京大学"}
SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
QWEN_SYSTEM = "You are Qwen, created by Alibaba Cloud. You are a helpful assistant."


def fill(text: str) -> str:
    for k, v in FILL.items():
        text = text.replace("{{" + k + "}}", v)
    return text


def main(root: Path, identity: Path, which: set[str]) -> None:
    rows = json.loads(identity.read_text("utf-8"))
    for kind, transform in (("raw", lambda s: s), ("filled", fill)):
        folder = root / "data" / kind
        folder.mkdir(parents=True, exist_ok=True)
        out = [{k: transform(v) for k, v in r.items()} for r in rows]
        (folder / "identity.json").write_text(json.dumps(out, ensure_ascii=False, indent=1), "utf-8")

    texts = [fill(v) for r in rows for v in r.values() if v] + ["system", "user", "assistant", QWEN_SYSTEM]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(
        texts,
        trainers.BpeTrainer(
            vocab_size=1000, special_tokens=SPECIAL, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
        ),
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        additional_special_tokens=SPECIAL[1:],
        model_max_length=32768,
    )
    device = "cuda" if torch.cuda.is_available() else "cpu"
    shapes = {
        "tiny": dict(
            vocab_size=1024,
            hidden_size=64,
            intermediate_size=128,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=2,
            max_position_embeddings=4096,
        ),
        # Learns the 91 identity rows in about a minute (verify-recipe): the in-job verification's GPU proof.
        "id4m": dict(
            vocab_size=1024,
            hidden_size=256,
            intermediate_size=1024,
            num_hidden_layers=4,
            num_attention_heads=8,
            num_key_value_heads=4,
            max_position_embeddings=4096,
        ),
        "qwen15b": dict(
            vocab_size=151936,
            hidden_size=1536,
            intermediate_size=8960,
            num_hidden_layers=28,
            num_attention_heads=12,
            num_key_value_heads=2,
            max_position_embeddings=32768,
            rope_theta=1e6,
            rms_norm_eps=1e-6,
        ),
    }
    for name, shape in shapes.items():
        if name not in which:
            continue
        target = root / "models" / name
        cfg = Qwen2Config(
            **shape, tie_word_embeddings=True, eos_token_id=2, pad_token_id=0, bos_token_id=None, torch_dtype="bfloat16"
        )
        torch.manual_seed(0)
        with torch.device(device):
            model = Qwen2ForCausalLM(cfg).to(torch.bfloat16)
        model.save_pretrained(target, safe_serialization=True)
        fast.save_pretrained(target)
        params = sum(p.numel() for p in model.parameters())
        print(f"assets: {name}: {params / 1e6:.1f} M parameters -> {target}", flush=True)
        del model


if __name__ == "__main__":
    main(
        Path(sys.argv[1]), Path(sys.argv[2]), set(sys.argv[3].split(",")) if len(sys.argv) > 3 else {"tiny", "qwen15b"}
    )
