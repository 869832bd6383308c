"""Stand-in for LLaMA-Factory's Python API (export_model, ChatModel), put on PYTHONPATH by tests.

Like the `llamafactory-cli` stub, every call is appended to $STUB_LOG with the variables that matter. A "model" is
a folder with answers.json ({prompt: answer}; "*" for any other prompt; "nextchat:" + prompt under a ChatGPT
system prompt): the merge copies the adapter's answers.json into export_dir, as merged weights carry the adapter.
"""

import json
import os

KEEP = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT", "NODE_RANK", "CUDA_VISIBLE_DEVICES")


def record(kind, api, payload):
    entry = {"argv": [kind, api], "env": {k: os.environ[k] for k in KEEP if k in os.environ}, **payload}
    with open(os.environ["STUB_LOG"], "a", encoding="utf-8") as f:
        f.write(json.dumps(entry, ensure_ascii=False) + "\n")
