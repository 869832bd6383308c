# scowspec runtime helper: runs inside the training container, before LLaMA-Factory.
# Reads the job description written by the command, fills in what only the container knows
# (model and dataset mount paths, WORK_DIR) and writes LLaMA-Factory's configs and
# dataset_info.json into the job folder. Values from the spec never pass through the shell.
# Python 3.8+, standard library only: it must run in any image that has LLaMA-Factory.
import json
import os
import sys


def fail(message):
    sys.stderr.write("scowspec: " + message + "\n")
    sys.exit(2)


def yaml_safe_float(value):
    # LLaMA-Factory reads configs with OmegaConf (YAML 1.1): "1e-05" would be a string there,
    # "1.0e-05" is a float. Always write a dot before the exponent.
    text = repr(value)
    if "e" in text and "." not in text.split("e")[0]:
        mantissa, exponent = text.split("e")
        text = mantissa + ".0e" + exponent
    return text


def dump(value, indent=0):
    pad = "  " * indent
    if isinstance(value, dict):
        if not value:
            return "{}"
        items = [pad + "  " + json.dumps(k, ensure_ascii=False) + ": " + dump(v, indent + 1) for k, v in value.items()]
        return "{\n" + ",\n".join(items) + "\n" + pad + "}"
    if isinstance(value, list):
        return "[" + ", ".join(dump(v, indent + 1) for v in value) + "]"
    if isinstance(value, float):
        return yaml_safe_float(value)
    return json.dumps(value, ensure_ascii=False)


def write(path, text):
    # Every node runs this on shared storage: write aside, then rename, so no reader sees half a file.
    tmp = "{}.tmp-{}-{}".format(path, os.environ.get("RANK", "0"), os.getpid())
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


def mounted(ref, what):
    if "path" in ref:
        return ref["path"]
    value = os.environ.get(ref["env"], "")
    if not value:
        fail("{} is not set: the portal did not mount the {}".format(ref["env"], what))
    return value.split(":")[0]


def fill(value, placeholders):
    if isinstance(value, str):
        for key, text in placeholders.items():
            value = value.replace("{{" + key + "}}", text)
        return value
    if isinstance(value, list):
        return [fill(v, placeholders) for v in value]
    if isinstance(value, dict):
        return {k: fill(v, placeholders) for k, v in value.items()}
    return value


def prepare_dataset(ds, data_dir):
    root = mounted(ds, "dataset")
    source = os.path.join(root, ds["file"]) if ds.get("file") else root
    if not os.path.exists(source):
        fail(f"dataset file {source} does not exist")
    if not ds.get("placeholders"):
        return source
    target = os.path.join(data_dir, os.path.basename(source))
    with open(source, encoding="utf-8") as f:
        if source.endswith(".jsonl"):
            rows = [json.loads(line) for line in f if line.strip()]
            text = "".join(json.dumps(fill(r, ds["placeholders"]), ensure_ascii=False) + "\n" for r in rows)
        else:
            text = json.dumps(fill(json.load(f), ds["placeholders"]), ensure_ascii=False, indent=1) + "\n"
    write(target, text)
    return target


def unescape_mount(field):
    # /proc/self/mountinfo escapes space, tab, newline and backslash as octal (\040 ...).
    out, i = "", 0
    while i < len(field):
        if field[i] == "\\" and field[i + 1 : i + 4].isdigit():
            out += chr(int(field[i + 1 : i + 4], 8))
            i += 4
        else:
            out += field[i]
            i += 1
    return out


def mount_point_of(path, mountinfo):
    """The mount point holding `path`: the longest one that is `path` or a folder above it."""
    best = "/"
    with open(mountinfo, encoding="utf-8", errors="replace") as f:
        for line in f:
            fields = line.split()
            if len(fields) < 5:
                continue
            point = unescape_mount(fields[4])
            inside = path == point or path.startswith(point.rstrip("/") + "/")
            if inside and len(point) > len(best):
                best = point
    return best


def check_on_a_mount(job_dir):
    # Outputs written to the container's own file system vanish with the pod while the job still reports
    # COMPLETED (SCOW-AI 0.5.4 mounts only its job folder, not WORK_DIR). Fail now, before any GPU work.
    mountinfo = os.environ.get("SCOWSPEC_MOUNTINFO", "/proc/self/mountinfo")
    if not os.path.exists(mountinfo):
        return  # not Linux: nothing to read, nothing to check
    real = os.path.realpath(job_dir)
    if mount_point_of(real, mountinfo) == "/":
        fail(
            "the job folder {} is not on a mounted volume: the adapter, merged model and logs would be lost "
            "when the container ends. The portal did not mount WORK_DIR ({}); SCOW-AI 0.5.4 mounts only its own "
            "job folder, and scowspec adds a work_dir mount there: set `portal_version: 0.5.4` in scowspec.yaml "
            "if the portal was taken for a newer one.".format(job_dir, os.environ.get("WORK_DIR", "unset"))
        )


def main():
    job_dir, job_file = sys.argv[1], sys.argv[2]
    check_on_a_mount(job_dir)
    with open(job_file, encoding="utf-8") as f:
        job = json.load(f)
    config_dir = os.path.join(job_dir, "config")
    data_dir = os.path.join(job_dir, "data")
    os.makedirs(data_dir, exist_ok=True)
    model_path = mounted(job["model"], "model")
    ds = job["dataset"]
    entry = dict(ds["info"])
    entry["file_name"] = prepare_dataset(ds, data_dir)
    write(os.path.join(data_dir, "dataset_info.json"), dump({ds["key"]: entry}) + "\n")
    train = dict(job["train"])
    train.update(
        model_name_or_path=model_path,
        dataset=ds["key"],
        dataset_dir=data_dir,
        output_dir=os.path.join(job_dir, "output"),
    )
    write(os.path.join(config_dir, "train.json"), dump(train) + "\n")
    if job.get("merge") is not None:
        merge = dict(job["merge"])
        merge.update(
            model_name_or_path=model_path,
            adapter_name_or_path=os.path.join(job_dir, "output"),
            export_dir=os.path.join(job_dir, "merged"),
        )
        write(os.path.join(config_dir, "merge.json"), dump(merge) + "\n")
    print("scowspec: configs written to " + config_dir)


main()
