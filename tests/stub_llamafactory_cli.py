#!/usr/bin/env python3
"""Stand-in for `llamafactory-cli`: records its arguments, environment, working folder and config file."""

import json
import os
import sys

KEEP = (
    "RANK",
    "NODE_RANK",
    "NNODES",
    "NPROC_PER_NODE",
    "MASTER_ADDR",
    "MASTER_PORT",
    "FORCE_TORCHRUN",
    "WORLD_SIZE",
    "LOCAL_RANK",
    "WORK_DIR",
    "HF_HUB_OFFLINE",
    "TORCH_CUDNN_SDPA_PREFERRED",
    "TORCH_CUDNN_SDPA_DEPRIORITIZED",
)
log = os.environ["STUB_LOG"]
config_path = sys.argv[2] if len(sys.argv) > 2 else ""
with open(config_path, encoding="utf-8") as f:
    config_text = f.read()
record = {
    "argv": sys.argv[1:],
    "env": {k: os.environ[k] for k in KEEP if k in os.environ},
    "cwd": os.getcwd(),
    "config": config_text,
}
with open(log, "a", encoding="utf-8") as f:
    f.write(json.dumps(record, ensure_ascii=False) + "\n")
if sys.argv[1] == "train" and os.environ.get("STUB_FAIL_TRAIN") == os.environ.get("RANK", "0"):
    sys.exit(3)
if sys.argv[1] == "train" and os.environ.get("STUB_TRAINED_ANSWERS"):
    # What training taught the model, as the API stub's models hold it (tests/stub_llamafactory).
    output_dir = json.loads(config_text)["output_dir"]
    os.makedirs(output_dir, exist_ok=True)
    with open(os.environ["STUB_TRAINED_ANSWERS"], encoding="utf-8") as src:
        answers = src.read()
    with open(os.path.join(output_dir, "answers.json"), "w", encoding="utf-8") as dst:
        dst.write(answers)
