"""The generated command, run by real bash with a stub `llamafactory-cli` on PATH, as SCOW-AI runs it on each node."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from scowspec.compile.lfconfig import Section
from scowspec.compile.payload import CompiledJob, compile_spec
from scowspec.compile.resolve import resolve
from scowspec.pipeline import Project, check_text
from scowspec.portal.profile import Generation, profile_of
from scowspec.validate.lfkeys import key_table

HERE = Path(__file__).resolve().parent
IDENTITY = HERE / "testdata" / "identity.json"

TUTORIAL = """\
apiVersion: scowspec/v1
kind: FineTune
name: qwen25-pku-identity
cluster: ai-k8s
account: a_pku
partition: gpu
image: app-store-images.pku.edu.cn/hiyouga/llamafactory:0.9.4
work_dir: /data/home/alice/finetune
model: {version_id: 3, scope: public}
dataset: {version_id: 12, scope: mine, file: identity.json, placeholders: {name: 北大人工智能助手, author: 北京大学}}
resources: {nodes: NODES, gpus_per_node: 2, max_time: 10h, cpus_per_node: 32, memory_mb: 524288, gpu_type: nvidia.com/gpu}
train:
  stage: sft
  finetuning_type: lora
  lora_target: all
  template: qwen
  cutoff_len: 1024
  max_samples: 1000
  num_train_epochs: 20.0
  learning_rate: 1.0e-5
  lr_scheduler_type: cosine
export: {export_size: 5, export_device: auto, export_legacy_format: false}
"""


def compiled(text: str) -> CompiledJob:
    spec, diags = check_text(text, "specs/test.yaml", Project("scowspec.yaml", None))
    assert spec is not None, diags
    facts, problems = resolve(spec, None, profile_of(Generation.MAIN))
    assert facts is not None, problems
    return compile_spec(spec, facts)


def run_node(
    job: CompiledJob, tmp: Path, rank: int | None, extra_env: dict[str, str] | None = None
) -> subprocess.Popen[str]:
    """Start the command as the container would: entry.sh run by bash in WORK_DIR, with SCOW's variables."""
    stub_bin = tmp / "bin"
    if not stub_bin.exists():
        stub_bin.mkdir()
        target = stub_bin / "llamafactory-cli"
        shutil.copy(HERE / "stub_llamafactory_cli.py", target)
        target.chmod(0o755)
        (tmp / "model").mkdir()
        (tmp / "dataset").mkdir()
        shutil.copy(IDENTITY, tmp / "dataset" / "identity.json")
        (tmp / "work").mkdir()
        (tmp / "site" / "tensorboardX").mkdir(parents=True)
        (tmp / "site" / "tensorboardX" / "__init__.py").write_text("")
    entry = tmp / f"entry-{rank}.sh"
    entry.write_text(job.payload["command"], "utf-8")
    # The portal puts the payload's variables into the container; the test's own paths win (WORK_DIR).
    env = {v["key"]: v["value"] for v in job.payload["envVariables"]}
    env |= {
        "PATH": f"{stub_bin}:{os.environ['PATH']}",
        "HOME": str(tmp),
        "PYTHONPATH": f"{tmp / 'site'}:{HERE / 'stub_llamafactory'}",
        "STUB_LOG": str(tmp / "calls.jsonl"),
        "WORK_DIR": str(tmp / "work"),
        "SCOW_AI_MODEL_PATH": str(tmp / "model"),
        "SCOW_AI_DATASET_PATH": str(tmp / "dataset"),
        "VC_GPU_NUM": "2",
        # As in the container: WORK_DIR is a mounted volume (the real mount table has no such line here).
        "SCOWSPEC_MOUNTINFO": str(mountinfo(tmp, [tmp / "work"])),
    }
    if rank is not None:
        env.update(RANK=str(rank), WORLD_SIZE="2", MASTER_ADDR="job-master-0", MASTER_PORT="23456")
    env.update(extra_env or {})
    return subprocess.Popen(
        ["bash", str(entry)], cwd=tmp / "work", env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )


def mountinfo(tmp: Path, mounts: list[Path], name: str = "mountinfo") -> Path:
    """A /proc/self/mountinfo with the container's root and `mounts` (hostPath volumes)."""
    path = tmp / name
    lines = ["1 0 0:1 / / rw,relatime - overlay overlay rw"]
    lines += [f"{i + 2} 1 8:1 /host{m} {m} rw,relatime - ext4 /dev/sda1 rw" for i, m in enumerate(mounts)]
    path.write_text("\n".join(lines) + "\n", "utf-8")
    return path


def calls(tmp: Path) -> list[dict[str, Any]]:
    log = tmp / "calls.jsonl"
    return [json.loads(line) for line in log.read_text("utf-8").splitlines()] if log.exists() else []


def finish(proc: subprocess.Popen[str]) -> int:
    out, err = proc.communicate(timeout=60)
    if proc.returncode != 0:
        print(out, err)
    return proc.returncode


def test_two_nodes_train_together_and_only_rank0_exports(tmp_path: Path) -> None:
    job = compiled(TUTORIAL.replace("NODES", "2"))
    procs = [run_node(job, tmp_path, 0), run_node(job, tmp_path, 1)]
    assert [finish(p) for p in procs] == [0, 0]
    log = calls(tmp_path)
    trains = sorted((c for c in log if c["argv"][0] == "train"), key=lambda c: c["env"]["NODE_RANK"])
    exports = [c for c in log if c["argv"][0] == "export"]
    assert [c["env"]["NODE_RANK"] for c in trains] == ["0", "1"]
    for c in trains:
        assert c["env"]["FORCE_TORCHRUN"] == "1" and c["env"]["NNODES"] == "2" and c["env"]["NPROC_PER_NODE"] == "2"
        assert c["env"]["MASTER_ADDR"] == "job-master-0" and c["env"]["MASTER_PORT"] == "23456"
    assert trains[0]["config"] == trains[1]["config"], "both nodes must train from the same config"
    assert len(exports) == 1, "the merge runs once, on node 0"
    assert "RANK" not in exports[0]["env"] and "WORLD_SIZE" not in exports[0]["env"]
    assert log.index(exports[0]) > log.index(
        next(c for c in log if c["argv"][0] == "train" and c["env"]["RANK"] == "0")
    )


def test_written_configs_are_what_llamafactory_accepts(tmp_path: Path) -> None:
    job = compiled(TUTORIAL.replace("NODES", "2"))
    assert finish(run_node(job, tmp_path, 0)) == 0
    job_dir = tmp_path / "work" / job.job_name
    # LLaMA-Factory reads configs with OmegaConf, i.e. a YAML 1.1 loader: numbers must stay numbers.
    train = yaml.safe_load((job_dir / "config" / "train.json").read_text("utf-8"))
    merge = yaml.safe_load((job_dir / "config" / "merge.json").read_text("utf-8"))
    assert train["learning_rate"] == pytest.approx(1.0e-5) and isinstance(train["learning_rate"], float)
    assert train["num_train_epochs"] == 20.0 and isinstance(train["num_train_epochs"], float)
    assert train["do_train"] is True and train["overwrite_output_dir"] is True
    assert train["output_dir"] == str(job_dir / "output"), "one output folder shared by all nodes"
    assert train["model_name_or_path"] == str(tmp_path / "model")
    assert train["report_to"] == "none" and 1 <= train["logging_steps"] <= 5
    table = key_table()
    assert set(train) <= table.train_keys, set(train) - table.train_keys
    assert set(merge) <= table.infer_keys, f"training keys in the merge config: {set(merge) - table.infer_keys}"
    assert merge["adapter_name_or_path"] == train["output_dir"]
    assert merge["export_dir"] == str(job_dir / "merged") and merge["export_size"] == 5
    info = json.loads((job_dir / "data" / "dataset_info.json").read_text("utf-8"))
    data_file = Path(info[train["dataset"]]["file_name"])
    assert train["dataset_dir"] == str(job_dir / "data") and data_file.parent == job_dir / "data"
    rows = json.loads(data_file.read_text("utf-8"))
    text = json.dumps(rows, ensure_ascii=False)
    assert len(rows) == 91 and "{{name}}" not in text and "{{author}}" not in text
    assert "I am 北大人工智能助手, an AI assistant developed by 北京大学" in text


def test_failed_training_stops_before_export(tmp_path: Path) -> None:
    job = compiled(TUTORIAL.replace("NODES", "2"))
    assert finish(run_node(job, tmp_path, 0, {"STUB_FAIL_TRAIN": "0"})) == 3
    assert [c["argv"][0] for c in calls(tmp_path)] == ["train"]


def test_single_node_launches_plainly(tmp_path: Path) -> None:
    job = compiled(TUTORIAL.replace("NODES", "1"))
    assert "framework" not in job.payload
    assert finish(run_node(job, tmp_path, None)) == 0
    log = calls(tmp_path)
    assert [c["argv"][0] for c in log] == ["train", "export"]
    assert "FORCE_TORCHRUN" not in log[0]["env"] and "NNODES" not in log[0]["env"]


def test_multinode_without_rank_fails_loudly(tmp_path: Path) -> None:
    job = compiled(TUTORIAL.replace("NODES", "2"))
    proc = run_node(job, tmp_path, None)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode != 0 and "RANK is not set" in err
    assert calls(tmp_path) == []


HOSTILE = "$(touch PWNED) `touch PWNED2` '\"; rm -rf / #\\ ${HOME} 中文"
# Config values are read by OmegaConf, where `${` is an interpolation: scowspec refuses it there (test_hostile.py).
HOSTILE_CONFIG = HOSTILE.replace("${HOME}", "$HOME")


def test_hostile_values_reach_the_configs_verbatim(tmp_path: Path) -> None:
    text = (
        TUTORIAL.replace("NODES", "2")
        .replace(
            "placeholders: {name: 北大人工智能助手, author: 北京大学}",
            "placeholders: {name: " + json.dumps(HOSTILE) + ', author: "line1\\nline2\\nSCOWSPEC_JOB_JSON\\nEOF"}',
        )
        .replace(
            "  template: qwen\n",
            "  template: qwen\n  default_system: " + json.dumps(HOSTILE_CONFIG + "\nSCOWSPEC_PREPARE_PY") + "\n",
        )
    )
    text += "env: {WEIRD: " + json.dumps(HOSTILE) + "}\n"
    job = compiled(text)
    assert {"key": "WEIRD", "value": HOSTILE} in job.payload["envVariables"]
    procs = [run_node(job, tmp_path, 0), run_node(job, tmp_path, 1)]
    assert [finish(p) for p in procs] == [0, 0]
    assert not list(tmp_path.rglob("PWNED*")), "a value from the spec was executed by the shell"
    job_dir = tmp_path / "work" / job.job_name
    train = yaml.safe_load((job_dir / "config" / "train.json").read_text("utf-8"))
    assert train["default_system"] == HOSTILE_CONFIG + "\nSCOWSPEC_PREPARE_PY"
    rows = json.loads((job_dir / "data" / "identity.json").read_text("utf-8"))
    assert any(HOSTILE in r["output"] for r in rows)
    assert any("line1\nline2\nSCOWSPEC_JOB_JSON\nEOF" in r["output"] for r in rows)


def test_tensorboard_job_mounts_logs_and_checks_for_tensorboard(tmp_path: Path) -> None:
    text = TUTORIAL.replace("NODES", "2") + "tensorboard: {log_dir: /data/home/alice/logs/tensorboard}\n"
    job = compiled(text)
    assert job.payload["tensorBoardDataPath"] == "/data/home/alice/logs/tensorboard"
    assert {"path": "/data/home/alice/logs/tensorboard", "target": "/data/home/alice/logs/tensorboard"} in job.payload[
        "mountPoints"
    ]
    assert "import tensorboardX" in job.payload["command"]
    assert finish(run_node(job, tmp_path, 0)) == 0
    train = yaml.safe_load((tmp_path / "work" / job.job_name / "config" / "train.json").read_text("utf-8"))
    assert train["report_to"] == "tensorboard"
    assert train["logging_dir"] == f"/data/home/alice/logs/tensorboard/{job.job_name}"


def test_command_opens_with_version_spec_and_digest() -> None:
    job = compiled(TUTORIAL.replace("NODES", "2"))
    first = job.payload["command"].splitlines()[0]
    assert first.startswith("# scowspec ") and "spec specs/test.yaml" in first and f"digest {job.spec.digest}" in first


CUDNN_CASES = [
    pytest.param("", {"TORCH_CUDNN_SDPA_PREFERRED": "0", "TORCH_CUDNN_SDPA_DEPRIORITIZED": "1"}, id="gpu-default"),
    pytest.param(
        'env: {TORCH_CUDNN_SDPA_DEPRIORITIZED: "0"}\n',
        {"TORCH_CUDNN_SDPA_PREFERRED": "0", "TORCH_CUDNN_SDPA_DEPRIORITIZED": "0"},
        id="spec-env-overrides",
    ),
    pytest.param("TRAIN  flash_attn: disabled\n", {}, id="eager-attention-needs-none"),
    pytest.param("TRAIN  flash_attn: fa2\n", {}, id="flash-attn-package-needs-none"),
]


@pytest.mark.parametrize(("addition", "expected"), CUDNN_CASES)
def test_sdpa_keeps_off_cudnn_attention_unless_the_spec_says(
    tmp_path: Path, addition: str, expected: dict[str, str]
) -> None:
    text = TUTORIAL.replace("NODES", "1")
    if addition.startswith("TRAIN"):
        text = text.replace("  template: qwen\n", "  template: qwen\n" + addition.removeprefix("TRAIN"))
    else:
        text += addition
    job = compiled(text)
    assert finish(run_node(job, tmp_path, None)) == 0
    train_env = calls(tmp_path)[0]["env"]
    seen = {k: v for k, v in train_env.items() if k.startswith("TORCH_CUDNN")}
    assert seen == expected
    chosen = {d.key: d.value for d in job.defaults if d.section is Section.ENV}
    assert chosen == {k: v for k, v in expected.items() if f"{k}: " not in addition}


def test_cpu_job_sets_no_attention_variables() -> None:
    job = compiled(TUTORIAL.replace("NODES", "1").replace("gpus_per_node: 2", "gpus_per_node: 0"))
    assert "TORCH_CUDNN" not in job.payload["command"]
    assert not [d for d in job.defaults if d.section is Section.ENV]


@pytest.mark.parametrize(
    ("mounted", "code"),
    [
        pytest.param(["work"], 0, id="work-dir-mounted"),
        pytest.param(["work/sub", "data"], 2, id="work-dir-not-mounted"),
        pytest.param([], 2, id="only-the-container-root"),
    ],
)
def test_command_refuses_to_train_where_outputs_would_be_lost(tmp_path: Path, mounted: list[str], code: int) -> None:
    job = compiled(TUTORIAL.replace("NODES", "1"))
    proc = run_node(
        job, tmp_path, None, {"SCOWSPEC_MOUNTINFO": str(mountinfo(tmp_path, [tmp_path / m for m in mounted], "case"))}
    )
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == code, err
    if code:
        assert "is not on a mounted volume" in err and "portal_version" in err
        assert calls(tmp_path) == [], "nothing may train when its outputs would be lost"
