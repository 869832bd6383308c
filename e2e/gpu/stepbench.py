"""Where a training step's time goes: one GPU, no Trainer, no DDP (runs on the GPU machine).

    python e2e/gpu/stepbench.py MODEL_DIR IDENTITY_JSON VARIANT [STEPS]   (IDENTITY_JSON: assets' filled copy)

The 1.5B-shaped model with LoRA on every linear module (r=8, fp32 LoRA weights, as LLaMA-Factory does),
batches of 8 identity rows in Qwen's chat format, AdamW. For one VARIANT it prints a JSON line with the
median wall time of a step, the CPU time spent issuing it (up to the return of backward(), no sync), the
GPU kernel time of a step (torch.profiler) and the number of operators issued. When the CPU time is close
to the wall time and the kernel time is far below it, the step is bound by issuing work, not by the GPU.

Variants (each in its own process, since Liger patches transformers' classes):
  literal    gradient checkpointing on, no autocast (the tutorial's command)
  compiled   no checkpointing, bf16 autocast (scowspec's defaults)
  noamp      no checkpointing, no autocast
  liger      compiled + Liger kernels (RMSNorm, RoPE, SwiGLU, fused linear cross-entropy)
  liger-noamp
  compile    compiled + torch.compile(dynamic=True): also reports the compile time
"""

from __future__ import annotations

import contextlib
import json
import random
import statistics
import sys
import time

import torch
from assets import QWEN_SYSTEM  # this folder is on sys.path when the script runs


def batches(tokenizer, rows, n: int, per_batch: int = 8):
    """Qwen-format rows, prompt masked out of the labels, padded to the longest: like LLaMA-Factory's SFT."""
    rng = random.Random(0)
    for _ in range(n):
        picked = rng.sample(rows, per_batch)
        ids, labels = [], []
        for r in picked:
            prompt = (
                f"<|im_start|>system\n{QWEN_SYSTEM}<|im_end|>\n<|im_start|>user\n{r['instruction']}"
                f"{r.get('input', '')}<|im_end|>\n<|im_start|>assistant\n"
            )
            p = tokenizer(prompt, add_special_tokens=False)["input_ids"]
            a = tokenizer(r["output"] + "<|im_end|>\n", add_special_tokens=False)["input_ids"]
            ids.append(p + a)
            labels.append([-100] * len(p) + a)
        width = max(len(x) for x in ids)
        pad = tokenizer.pad_token_id
        yield {
            "input_ids": torch.tensor([x + [pad] * (width - len(x)) for x in ids]),
            "attention_mask": torch.tensor([[1] * len(x) + [0] * (width - len(x)) for x in ids]),
            "labels": torch.tensor([y + [-100] * (width - len(y)) for y in labels]),
        }


def main(model_dir: str, identity: str, name: str, steps: int) -> None:
    variant, *mods = name.split("+")  # modifiers: nocudnn (no cuDNN SDPA), eager (no SDPA), gcfreeze
    if "nocudnn" in mods:
        torch.backends.cuda.enable_cudnn_sdp(False)
    if variant.startswith("liger"):
        from liger_kernel.transformers import apply_liger_kernel_to_qwen2

        apply_liger_kernel_to_qwen2()
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    dev = "cuda" if torch.cuda.is_available() else "cpu"  # cpu: a smoke test of this script only
    sync = torch.cuda.synchronize if dev == "cuda" else (lambda: None)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    with open(identity, encoding="utf-8") as f:
        rows = json.load(f)
    model = AutoModelForCausalLM.from_pretrained(
        model_dir, dtype=torch.bfloat16, attn_implementation="eager" if "eager" in mods else "sdpa"
    ).to(dev)
    model.config.use_cache = False
    targets = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    model = get_peft_model(model, LoraConfig(r=8, lora_alpha=16, lora_dropout=0.0, target_modules=targets))
    for p in model.parameters():
        if p.requires_grad:
            p.data = p.data.float()
    if variant == "literal":
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": True})
        model.enable_input_require_grads()
    model.train()
    amp = variant in ("compiled", "liger", "compile")
    step_model = model
    compile_s = 0.0
    if variant == "compile":
        step_model = torch.compile(model, dynamic=True)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    data = [{k: v.to(dev) for k, v in b.items()} for b in batches(tokenizer, rows, steps)]

    def step(batch) -> float:
        t0 = time.perf_counter()
        ctx = torch.autocast(dev, dtype=torch.bfloat16) if amp else contextlib.nullcontext()
        with ctx:
            loss = step_model(**batch).loss
        loss.backward()
        issued = time.perf_counter() - t0
        torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        return issued

    if "gcfreeze" in mods:
        import gc

        gc.freeze()  # objects alive now (modules, model, data) are never scanned by the collector again
    warm = 8
    warm_steps = []
    for b in data[:warm]:
        t = time.perf_counter()
        step(b)
        sync()
        warm_steps.append(round(time.perf_counter() - t, 3))
    warm_s = sum(warm_steps)
    if variant == "compile":
        compile_s = warm_s
    walls, issued = [], []
    for b in data[warm:]:
        t = time.perf_counter()
        issued.append(step(b))
        sync()  # per-step wall: the Trainer syncs once a step too (NaN filter)
        walls.append(time.perf_counter() - t)
    prof_steps = data[warm : warm + 5]
    with torch.profiler.profile(
        activities=[torch.profiler.ProfilerActivity.CPU]
        + ([torch.profiler.ProfilerActivity.CUDA] if dev == "cuda" else [])
    ) as prof:
        for b in prof_steps:
            step(b)
        sync()
    events = prof.key_averages()
    kernel_us = sum(e.self_device_time_total for e in events if e.device_type == torch.autograd.DeviceType.CUDA)
    ops = sum(e.count for e in events if e.key.startswith("aten::"))  # nested ones too: compare, don't sum
    attn = sorted(
        {
            e.key[:60]
            for e in events
            if any(w in e.key.lower() for w in ("attention", "sdpa", "fmha", "flash", "softmax"))
        }
    )
    result = {
        "variant": name,
        "warm_steps_s": warm_steps,
        "attention_ops": attn,
        "gpu": torch.cuda.get_device_name(0) if dev == "cuda" else "cpu",
        "tokens_per_batch": [int(b["attention_mask"].sum()) for b in data[warm : warm + 3]],
        "warmup_s": round(warm_s, 2),
        "compile_s": round(compile_s, 1),
        "step_wall_ms": round(1000 * statistics.median(walls), 1),
        "step_issue_ms": round(1000 * statistics.median(issued), 1),
        "step_kernel_ms": round(kernel_us / 1000 / len(prof_steps), 1),
        "aten_ops_per_step": ops // len(prof_steps),
        "peak_GiB": round(torch.cuda.max_memory_allocated() / 2**30, 2) if dev == "cuda" else None,
    }
    print("[stepbench] " + json.dumps(result), flush=True)
    print(events.table(sort_by="self_cpu_time_total", row_limit=25), flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]) if len(sys.argv) > 4 else 40)
