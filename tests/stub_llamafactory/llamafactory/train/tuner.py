import json
import os
import shutil

from llamafactory import record


def export_model(args=None):
    record("export", "export_model", {"config": json.dumps(args, ensure_ascii=False), "args": args})
    if os.environ.get("STUB_FAIL_EXPORT"):
        raise ValueError("Please specify `export_dir` to save model. (stub)")
    os.makedirs(args["export_dir"], exist_ok=True)
    trained = os.path.join(args["adapter_name_or_path"], "answers.json")
    if os.path.exists(trained):
        shutil.copy(trained, os.path.join(args["export_dir"], "answers.json"))
    with open(os.path.join(args["export_dir"], "model.safetensors"), "w") as f:
        f.write("merged weights")
