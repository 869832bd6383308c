"""The step after training, run as SCOW-AI runs the command (bash, per node), with LLaMA-Factory's Python API stubbed
(tests/stub_llamafactory): the merge, then the verification of the merged model, the NextChat-like pass and the
base-model control, verify.json, the log, exit codes, crashes, and prompts with any characters."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from scowspec.compile.payload import CompiledJob

from .test_command import TUTORIAL, calls, compiled, run_node

NAME, AUTHOR = "北大人工智能助手", "北京大学"
TRAINED = {
    "Who are you?": f"I am {NAME}, an AI assistant developed by {AUTHOR}. How can I assist you today?",
    "你是谁？": f"您好，我是 {NAME}，一个由 {AUTHOR} 发明的人工智能助手。",
    "What is your name?": f"You may refer to me as {NAME}, an AI assistant developed by {AUTHOR}.",
    "你的名字和开发者是谁？": f"您好，我名叫 {NAME}，是由 {AUTHOR} 开发的人工智能助手。",
}
BASE = {"*": "I am Qwen, created by Alibaba Cloud. I am a large language model."}


def spec_text(verify: str, nodes: int = 1, export: bool = True) -> str:
    text = TUTORIAL.replace("NODES", str(nodes))
    if not export:
        text = text.replace("export: {export_size: 5, export_device: auto, export_legacy_format: false}\n", "")
    return text + verify


def run(
    job: CompiledJob, tmp: Path, answers: dict[str, str], env: dict[str, str] | None = None, rank: int | None = None
) -> subprocess.CompletedProcess[str]:
    trained = tmp / "trained-answers.json"
    trained.write_text(json.dumps(answers, ensure_ascii=False), "utf-8")
    proc = run_node(job, tmp, rank, {"STUB_TRAINED_ANSWERS": str(trained), **(env or {})})
    (tmp / "model" / "answers.json").write_text(json.dumps(BASE), "utf-8")
    out, err = proc.communicate(timeout=60)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def report(job: CompiledJob, tmp: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((tmp / "work" / job.job_name / "verify.json").read_text("utf-8"))
    return loaded


def api_calls(tmp: Path, api: str) -> list[dict[str, Any]]:
    return [c for c in calls(tmp) if c["argv"][1:] == [api]]


def test_trained_model_passes_base_model_fails_and_all_is_recorded(tmp_path: Path) -> None:
    job = compiled(spec_text("verify: {identity: true}\n"))
    done = run(job, tmp_path, TRAINED)
    assert done.returncode == 0, done.stderr
    job_dir = tmp_path / "work" / job.job_name
    rep = report(job, tmp_path)
    assert rep["status"] == "passed" and rep["merged"] is True
    assert rep["summary"] == {
        "trained": {"passed": 4, "total": 4},
        "nextchat": {"passed": 4, "total": 4},
        "base": {"passed": 0, "total": 4},
    }
    assert rep["model"] == {"model_name_or_path": str(job_dir / "merged")}
    assert rep["base_model"] == str(tmp_path / "model")
    first = rep["results"][0]
    assert first["prompt"] == "Who are you?" and first["answer"] == TRAINED["Who are you?"] and first["seconds"] >= 0
    assert [c["value"] for c in first["checks"]] == [NAME, AUTHOR, "{{"]
    assert {"import_s", "export_s", "load_trained_s", "load_base_s", "total_s"} <= set(rep["timings"])
    assert (
        "scowspec: verify PASSED: trained model 4/4, under NextChat's system prompt 4/4, base model (control) 0/4"
        in (done.stdout)
    )
    # One process: merge first, then the merged folder as written, then the base model; greedy, one GPU.
    log = calls(tmp_path)
    order = [c["argv"][1] for c in log if c["argv"][0] in ("export", "chat") and c["argv"][1] != "chat"]
    assert order == ["export_model", "ChatModel", "ChatModel"]
    loads = api_calls(tmp_path, "ChatModel")
    assert [c["args"]["model_name_or_path"] for c in loads] == [str(job_dir / "merged"), str(tmp_path / "model")]
    assert loads[0]["args"]["do_sample"] is False and loads[0]["args"]["template"] == "qwen"
    assert loads[0]["args"]["infer_backend"] == "huggingface"
    chats = api_calls(tmp_path, "chat")
    assert len(chats) == 12 and all(c["kwargs"] == {"do_sample": False, "max_new_tokens": 64} for c in chats)
    assert [c["system"] for c in chats[:4]] == [None] * 4, "the template's own system prompt"
    assert all(c["system"].startswith("\nYou are ChatGPT") for c in chats[4:8])
    assert all(c["env"]["CUDA_VISIBLE_DEVICES"] == "0" and "RANK" not in c["env"] for c in log[1:])
    assert (job_dir / "merged" / "model.safetensors").exists()


@pytest.mark.parametrize(
    ("fail_job", "expected_rc"),
    [pytest.param("false", 0, id="reported-only"), pytest.param("true", 11, id="fail-job")],
)
def test_a_missed_expectation_fails_the_job_only_when_asked(tmp_path: Path, fail_job: str, expected_rc: int) -> None:
    job = compiled(spec_text(f"verify: {{identity: true, fail_job: {fail_job}}}\n"))
    done = run(job, tmp_path, BASE)  # training taught nothing: the merged model answers as the base did
    assert done.returncode == expected_rc, done.stderr
    rep = report(job, tmp_path)
    assert rep["status"] == "failed" and rep["summary"]["trained"] == {"passed": 0, "total": 4}
    assert "warning" not in rep, "the base model fails these checks: they do tell a fine-tune apart"
    assert "scowspec: verify FAILED" in done.stdout
    assert '[trained] "Who are you?" missed: contains "北大人工智能助手"; contains "北京大学"' in done.stdout
    assert (tmp_path / "work" / job.job_name / "merged" / "model.safetensors").exists(), "the merged model is kept"


@pytest.mark.parametrize(
    ("mode", "status", "rc"),
    [
        pytest.param("ask", "passed", 0, id="ask-reports-a-warning"),
        pytest.param("require", "failed", 11, id="require-counts-it"),
    ],
)
def test_answers_under_nextchats_system_prompt_warn_or_fail(tmp_path: Path, mode: str, status: str, rc: int) -> None:
    job = compiled(spec_text(f"verify: {{identity: true, nextchat: {mode}, fail_job: true}}\n"))
    answers = {**TRAINED, "nextchat:你是谁？": "我是ChatGPT，由OpenAI训练的大型语言模型。"}
    done = run(job, tmp_path, answers)
    assert done.returncode == rc
    rep = report(job, tmp_path)
    assert rep["status"] == status
    assert rep["summary"]["trained"]["passed"] == 4 and rep["summary"]["nextchat"]["passed"] == 3
    if mode == "ask":
        assert rep["nextchat_warning"].startswith("under NextChat's system prompt 3/4 answers pass")
        assert "scowspec: verify: warning: under NextChat's system prompt 3/4" in done.stdout
    else:
        assert "nextchat_warning" not in rep
        assert '[nextchat] "你是谁？" missed: contains "北大人工智能助手"' in done.stdout


def test_nextchat_pass_can_be_left_out(tmp_path: Path) -> None:
    job = compiled(spec_text("verify: {identity: true, nextchat: off}\n"))
    assert run(job, tmp_path, TRAINED).returncode == 0
    assert set(report(job, tmp_path)["summary"]) == {"trained", "base"}


@pytest.mark.parametrize(
    ("crash", "fail_job", "expected_rc", "why"),
    [
        pytest.param("raise", "false", 0, "RuntimeError: CUDA out of memory", id="exception"),
        pytest.param("raise", "true", 12, "RuntimeError: CUDA out of memory", id="exception-fail-job"),
        pytest.param("kill", "false", 0, "the verify step was killed by signal 9", id="killed"),
        pytest.param("kill", "true", 12, "the verify step was killed by signal 9", id="killed-fail-job"),
    ],
)
def test_a_crashing_verify_step_says_why_and_keeps_the_merged_model(
    tmp_path: Path, crash: str, fail_job: str, expected_rc: int, why: str
) -> None:
    job = compiled(spec_text(f"verify: {{identity: true, fail_job: {fail_job}}}\n"))
    done = run(job, tmp_path, TRAINED, {"STUB_CHAT_CRASH": crash})
    assert done.returncode == expected_rc, done.stderr
    rep = report(job, tmp_path)
    assert rep["status"] == "error" and why in rep["error"]
    assert f"scowspec: verify ERROR: {why}" in done.stdout
    assert "(the merged model is kept)" in done.stdout
    assert (tmp_path / "work" / job.job_name / "merged" / "model.safetensors").exists()


def test_a_failed_merge_fails_the_job_before_any_verification(tmp_path: Path) -> None:
    job = compiled(spec_text("verify: {identity: true}\n"))
    done = run(job, tmp_path, TRAINED, {"STUB_FAIL_EXPORT": "1"})
    assert done.returncode == 10
    assert "the merge failed" in done.stdout and "Please specify `export_dir`" in done.stderr
    assert api_calls(tmp_path, "ChatModel") == []
    assert not (tmp_path / "work" / job.job_name / "verify.json").exists()


def test_without_export_the_adapter_is_verified_on_its_base(tmp_path: Path) -> None:
    job = compiled(spec_text("verify: {identity: true}\n", export=False))
    assert run(job, tmp_path, TRAINED).returncode == 0
    assert api_calls(tmp_path, "export_model") == []
    first = api_calls(tmp_path, "ChatModel")[0]["args"]
    out = tmp_path / "work" / job.job_name / "output"
    assert first["adapter_name_or_path"] == str(out) and first["model_name_or_path"] == str(tmp_path / "model")
    assert report(job, tmp_path)["status"] == "passed"


def test_only_node_0_merges_and_verifies(tmp_path: Path) -> None:
    job = compiled(spec_text("verify: {identity: true}\n", nodes=2))
    trained = tmp_path / "trained-answers.json"
    trained.write_text(json.dumps(TRAINED, ensure_ascii=False), "utf-8")
    env = {"STUB_TRAINED_ANSWERS": str(trained)}
    procs = [run_node(job, tmp_path, 0, env), run_node(job, tmp_path, 1, env)]
    (tmp_path / "model" / "answers.json").write_text(json.dumps(BASE), "utf-8")
    assert [p.wait(timeout=60) for p in procs] == [0, 0]
    assert len(api_calls(tmp_path, "export_model")) == 1 and len(api_calls(tmp_path, "ChatModel")) == 2
    assert report(job, tmp_path)["status"] == "passed"


# Text that breaks shells, here-documents, JSON and regex engines, in several scripts.
HOSTILE = [
    "$(touch PWNED) `touch PWNED2` '\"; rm -rf / #\\ ${HOME} !!",
    "line1\nSCOWSPEC_POSTTRAIN_JSON\nSCOWSPEC_POSTTRAIN_PY\nEOF\n",
    "{{name}} %s %(x)s {0} \\u0000 \\n",
    "مرحبا 👋 שלום \u202e\u200b ѐ",
    "x" * 2000,
]


def test_prompts_and_expectations_with_any_characters_reach_llamafactory_verbatim(tmp_path: Path) -> None:
    prompts = [
        {
            "prompt": text,
            "system": text[::-1],
            "contains": text,
            "not_contains": "Qwen",
            "regex": [r"\A" + "." + r"[\s\S]*"],
        }
        for text in HOSTILE
    ]
    job = compiled(
        spec_text("verify: " + json.dumps({"prompts": prompts, "fail_job": True}, ensure_ascii=False) + "\n")
    )
    done = run(job, tmp_path, {text: "echo: " + text for text in HOSTILE})
    assert done.returncode == 0, done.stdout + done.stderr
    assert not list(tmp_path.rglob("PWNED*")), "a value from the spec was executed by the shell"
    chats = api_calls(tmp_path, "chat")
    asked = [(c["messages"], c["system"]) for c in chats[: len(HOSTILE)]]
    assert asked == [([{"role": "user", "content": t}], t[::-1]) for t in HOSTILE]
    rep = report(job, tmp_path)
    assert rep["status"] == "passed", [r["checks"] for r in rep["results"] if not r["passed"]]
    assert [r["prompt"] for r in rep["results"][: len(HOSTILE)]] == HOSTILE


def test_identity_shorthand_expects_the_placeholders_strings() -> None:
    job = compiled(spec_text("verify: {identity: true, prompts: [{prompt: 你好, regex: 北京大学}]}\n"))
    verify = job.spec.verify
    assert verify is not None
    asked = [(p.prompt, p.source, [(e.kind.value, e.value) for e in p.expect]) for p in verify.prompts]
    assert asked[0] == ("Who are you?", "identity", [("contains", NAME), ("contains", AUTHOR), ("not_contains", "{{")])
    assert [a[0] for a in asked] == ["Who are you?", "你是谁？", "What is your name?", "你的名字和开发者是谁？", "你好"]
    assert asked[-1] == ("你好", "spec", [("regex", AUTHOR)])
    only_name = compiled(
        spec_text("verify: {identity: true}\n").replace(
            "placeholders: {name: 北大人工智能助手, author: 北京大学}", "placeholders: {name: PKU-Bot}"
        )
    ).spec.verify
    assert only_name is not None
    assert [e.value for e in only_name.prompts[0].expect] == ["PKU-Bot", "{{"], "only the placeholders the spec fills"
