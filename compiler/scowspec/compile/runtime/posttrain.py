# scowspec runtime helper: runs once, on node 0, after training succeeded. Merges the LoRA adapter and verifies the
# trained model's answers in ONE process that imports LLaMA-Factory once (its Python API: export_model, ChatModel).
#   python3 posttrain.py JOB_DIR          supervises: runs itself with --work on one GPU, and records a crash
#   python3 posttrain.py JOB_DIR --work   does the work
# Reads config/posttrain.json (written by the command), config/train.json and config/merge.json (written by
# prepare.py); writes JOB_DIR/verify.json. Values from the spec arrive as JSON and go to LLaMA-Factory as they are.
# The merge comes first and is complete before any verification starts, so a failing check never loses it.
# Python 3.8+, standard library only (LLaMA-Factory is imported only in --work mode).
import json
import os
import re
import subprocess
import sys
import time
import traceback

EXPORT_FAILED = 10  # the merge failed: the job fails, as a failed `llamafactory-cli export` did
VERIFY_FAILED = 11  # an answer missed its expectation, and verify.fail_job is true
VERIFY_ERROR = 12  # the verification could not run (or died), and verify.fail_job is true
SHOWN = 5  # missed answers quoted in the log; verify.json has them all
DISTRIBUTED_ENV = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "NODE_RANK", "MASTER_ADDR", "MASTER_PORT")


def say(message):
    print("scowspec: " + message, flush=True)


def load(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def save(path, doc):
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(json.dumps(doc, ensure_ascii=False, indent=1) + "\n")
    os.replace(tmp, path)


def short(text, limit=160):
    shown = json.dumps(text, ensure_ascii=False)
    return shown if len(shown) <= limit else shown[: limit - 1] + "…"


def check(expect, answer):
    kind, value = expect["kind"], expect["value"]
    out = {"kind": kind, "value": value}
    if kind == "contains":
        out["passed"] = value in answer
    elif kind == "not_contains":
        out["passed"] = value not in answer
    else:
        try:
            out["passed"] = re.search(value, answer) is not None
        except re.error as exc:  # validate refuses these; a hand-edited posttrain.json could still hold one
            out.update(passed=False, error=f"invalid regular expression: {exc}")
    return out


def ask(chat, prompt, system, run, max_new_tokens):
    start = time.perf_counter()
    response = chat.chat(
        [{"role": "user", "content": prompt["prompt"]}], system=system, do_sample=False, max_new_tokens=max_new_tokens
    )[0]
    answer = response.response_text
    checks = [check(e, answer) for e in prompt["expect"]]
    return {
        "run": run,
        "prompt": prompt["prompt"],
        "system": system,
        "source": prompt.get("source", "spec"),
        "answer": answer,
        "finish_reason": getattr(response, "finish_reason", None),
        "tokens": getattr(response, "response_length", None),
        "seconds": round(time.perf_counter() - start, 3),
        "passed": all(c["passed"] for c in checks),
        "checks": checks,
    }


def release(chat):
    # Free the GPU before the next model is loaded.
    import gc

    chat.engine.model = None
    gc.collect()
    try:
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    except ImportError:
        pass


def tested_model(job_dir, verify, train):
    merge_file = os.path.join(job_dir, "config", "merge.json")
    if os.path.exists(merge_file):  # what the user will serve: the merged folder, read back from disk
        return {"model_name_or_path": load(merge_file)["export_dir"]}
    if verify["finetuning_type"] == "lora":
        return {
            "model_name_or_path": train["model_name_or_path"],
            "adapter_name_or_path": train["output_dir"],
            "finetuning_type": "lora",
        }
    return {"model_name_or_path": train["output_dir"]}


def summarise(report, verify):
    counted = ("trained", "nextchat") if verify.get("nextchat_required") else ("trained",)
    results = report["results"]
    runs = {}
    for r in results:
        done = runs.setdefault(r["run"], {"passed": 0, "total": 0})
        done["total"] += 1
        done["passed"] += r["passed"]
    report["summary"] = runs
    report["status"] = "passed" if all(r["passed"] for r in results if r["run"] in counted) else "failed"
    nextchat = runs.get("nextchat")
    if nextchat and nextchat["passed"] < nextchat["total"] and "nextchat" not in counted:
        report["nextchat_warning"] = (
            "under NextChat's system prompt {passed}/{total} answers pass: a check in NextChat would see other "
            "answers than the template's own system prompt gets".format(**nextchat)
        )
    base = runs.get("base")
    if base and base["total"] and base["passed"] == base["total"]:
        report["warning"] = "the base model passes every check too: they do not show what the fine-tune changed"
    names = {"trained": "trained model", "nextchat": "under NextChat's system prompt", "base": "base model (control)"}
    parts = ["{} {}/{}".format(names[k], v["passed"], v["total"]) for k, v in runs.items()]
    say("verify {}: {}".format(report["status"].upper(), ", ".join(parts)))
    missed = [r for r in results if r["run"] in counted and not r["passed"]]
    for r in missed[:SHOWN]:
        wanted = "; ".join("{} {}".format(c["kind"], short(c["value"], 60)) for c in r["checks"] if not c["passed"])
        say(
            "verify: [{}] {} missed: {}; answer {}".format(r["run"], short(r["prompt"], 60), wanted, short(r["answer"]))
        )
    if len(missed) > SHOWN:
        say(f"verify: ... and {len(missed) - SHOWN} more missed answers in verify.json")
    for key in ("nextchat_warning", "warning"):
        if key in report:
            say("verify: warning: " + report[key])


def run_verify(job_dir, post, report, path):
    start = time.perf_counter()
    from llamafactory.chat import ChatModel

    report["timings"].setdefault("import_s", round(time.perf_counter() - start, 3))

    verify = post["verify"]
    train = load(os.path.join(job_dir, "config", "train.json"))
    limit = verify["chat"].get("max_new_tokens")
    report["model"] = tested_model(job_dir, verify, train)
    report["base_model"] = train["model_name_or_path"]
    start = time.perf_counter()
    chat = ChatModel(dict(verify["chat"], **report["model"]))
    report["timings"]["load_trained_s"] = round(time.perf_counter() - start, 3)
    for prompt in verify["prompts"]:
        report["results"].append(ask(chat, prompt, prompt.get("system"), "trained", limit))
    nextchat = verify.get("nextchat_system")
    if nextchat:
        for prompt in verify["prompts"]:
            report["results"].append(ask(chat, prompt, nextchat, "nextchat", limit))
    release(chat)
    save(path, report)
    try:  # the control: the same prompts to the base model; its failure does not decide the verdict
        start = time.perf_counter()
        chat = ChatModel(dict(verify["chat"], model_name_or_path=train["model_name_or_path"]))
        report["timings"]["load_base_s"] = round(time.perf_counter() - start, 3)
        for prompt in verify["prompts"]:
            report["results"].append(ask(chat, prompt, prompt.get("system"), "base", limit))
        release(chat)
    except Exception as exc:
        report["control_error"] = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        say("verify: the base model (control) could not be asked: " + report["control_error"])


def work(job_dir):
    started = time.perf_counter()
    config = os.path.join(job_dir, "config")
    post = load(os.path.join(config, "posttrain.json"))
    verify = post.get("verify")
    path = os.path.join(job_dir, "verify.json")
    timings = {}
    if post.get("export"):
        try:
            start = time.perf_counter()
            from llamafactory.train.tuner import export_model

            timings["import_s"] = round(time.perf_counter() - start, 3)
            start = time.perf_counter()
            export_model(load(os.path.join(config, "merge.json")))
        except Exception:
            traceback.print_exc()
            say("the merge failed: see the traceback above")
            return EXPORT_FAILED
        timings["export_s"] = round(time.perf_counter() - start, 3)
        say("merged model written to {} in {:.1f} s".format(os.path.join(job_dir, "merged"), timings["export_s"]))
    if not verify:
        return 0
    report = {
        "scowspec_verify": 1,
        "job": post["job"],
        "status": "running",
        "fail_job": verify["fail_job"],
        "merged": bool(post.get("export")),
        "timings": timings,
        "results": [],
    }
    save(path, report)  # "running": a crash from here on is recorded by the supervisor
    try:
        run_verify(job_dir, post, report, path)
    except Exception as exc:
        traceback.print_exc()
        report["status"] = "error"
        report["error"] = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        say("verify ERROR: {} (the merged model is kept)".format(report["error"]))
    else:
        summarise(report, verify)
    timings["total_s"] = round(time.perf_counter() - started, 3)
    save(path, report)
    say("verify results: " + path)
    if not verify["fail_job"] or report["status"] == "passed":
        return 0
    return VERIFY_FAILED if report["status"] == "failed" else VERIFY_ERROR


def one_gpu(env):
    # Verification runs on one GPU (the first the job was given); torchrun's variables would make
    # LLaMA-Factory think it is one rank of a distributed run.
    for key in DISTRIBUTED_ENV:
        env.pop(key, None)
    visible = env.get("CUDA_VISIBLE_DEVICES")
    env["CUDA_VISIBLE_DEVICES"] = "0" if visible is None else visible.split(",")[0].strip()
    return env


def supervise(job_dir):
    rc = subprocess.call([sys.executable, os.path.abspath(__file__), job_dir, "--work"], env=one_gpu(dict(os.environ)))
    if rc in (0, EXPORT_FAILED, VERIFY_FAILED, VERIFY_ERROR):
        return rc
    how = f"was killed by signal {-rc}" if rc < 0 else f"exited with status {rc}"
    post = load(os.path.join(job_dir, "config", "posttrain.json"))
    path = os.path.join(job_dir, "verify.json")
    report = load(path) if os.path.exists(path) else None
    if not post.get("verify") or report is None or report.get("status") != "running":
        say(f"the merge {how} (verification had not started)")
        return EXPORT_FAILED
    report["status"] = "error"
    report["error"] = f"the verify step {how} (out of memory?); see the job's log"
    save(path, report)
    say("verify ERROR: {} (the merged model is kept)".format(report["error"]))
    return VERIFY_ERROR if post["verify"]["fail_job"] else 0


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[2] == "--work":
        sys.exit(work(sys.argv[1]))
    sys.exit(supervise(sys.argv[1]))
