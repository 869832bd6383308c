"""`make lf-oracle`: scowspec's verdict on every corpus spec against LLaMA-Factory 0.9.4's own.

For each case of tools/lf_oracle/cases.py: write the spec (.oracle/corpus/ID.yaml, its first line names
the raise it targets), validate it with scowspec, compile it (also when scowspec rejects it, so false
positives show), and run the compiled command with bash as a node would, with a stand-in
`llamafactory-cli` on PATH that hands each call to the real LLaMA-Factory (server.py). Prints the
confusion table, every disagreement, and last `N agree, K false negatives, J false positives`.

Usage: python tools/lf_oracle/run.py ORACLE_DIR [--jobs N] [--only ID,ID] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cases import CASES, Case, spec_for

from scowspec.compile.payload import compile_spec
from scowspec.compile.resolve import resolve
from scowspec.load.yamlfile import parse
from scowspec.model.build import build
from scowspec.model.effective import merge
from scowspec.pipeline import load_specs
from scowspec.portal.profile import Generation, profile_of

HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Outcome:
    id: str
    kind: str
    target: str
    scowspec: str  # error | warning | clean
    codes: str
    lf: str  # passes | fails | not compiled
    lf_error: str
    seconds: float


def scowspec_verdict(path: Path) -> tuple[str, str]:
    report = load_specs([path]).report
    if report.errors:
        return "error", ", ".join(sorted({f"{d.code}: {d.message}" for d in report.errors}))
    if report.warnings:
        return "warning", ", ".join(sorted({f"{d.code}: {d.message}" for d in report.warnings}))
    return "clean", ""


def compiled_command(path: Path) -> tuple[str, dict[str, str], bool, int] | None:
    """The payload's command and variables, built even where scowspec's rules say no (schema-valid data)."""
    doc, _ = parse(path.read_text("utf-8"), str(path))
    if doc is None:
        return None
    try:
        spec = build(str(path), merge({}, doc.data), doc)
        facts, _ = resolve(spec, None, profile_of(Generation.MAIN))
        if facts is None:
            return None
        job = compile_spec(spec, facts)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:  # data the model cannot hold
        if isinstance(exc, TypeError) and "positional argument" in str(exc):
            raise  # scowspec's own API moved: say so, never count it as "not compiled"
        return None
    env = {v["key"]: v["value"] for v in job.payload["envVariables"]}
    return job.payload["command"], env, spec.distributed, spec.resources.gpus_per_node


def run_case(case: Case, root: Path, assets: Path, sock: str, bin_dir: Path) -> Outcome:
    started = time.monotonic()
    path = root / "corpus" / f"{case.id}.yaml"
    header = f"# targets: {case.target or '(near miss: must pass)'}\n# kind: {case.kind}\n"
    path.write_text(header + yaml.safe_dump(spec_for(case), sort_keys=False, allow_unicode=True), "utf-8")
    verdict, codes = scowspec_verdict(path)
    compiled = compiled_command(path)
    if compiled is None:
        return Outcome(case.id, case.kind, case.target, verdict, codes, "not compiled", "", 0.0)
    command, job_env, distributed, gpus = compiled
    tmp = Path(tempfile.mkdtemp(prefix=f"{case.id}-", dir=root / "runs"))
    (tmp / "work").mkdir()
    log = tmp / "lf.log"
    # As in the container, WORK_DIR is a mounted volume: the command checks that before it trains.
    mountinfo = tmp / "mountinfo"
    mountinfo.write_text(f"1 0 0:1 / / rw - overlay overlay rw\n2 1 8:1 /w {tmp / 'work'} rw - ext4 /dev/sda1 rw\n")
    env = {
        **job_env,
        "PATH": f"{bin_dir}:{root / 'venv' / 'bin'}:/usr/local/bin:/usr/bin:/bin",
        "HOME": str(tmp),
        "HF_HOME": str(tmp / "hf"),
        "WORK_DIR": str(tmp / "work"),
        "SCOWSPEC_MOUNTINFO": str(mountinfo),
        "SCOW_AI_MODEL_PATH": str(assets / "models" / "tiny"),
        "SCOW_AI_DATASET_PATH": str(assets / "dataset"),
        "ORACLE_LOG": str(log),
        "ORACLE_SOCKET": sock,
        "ORACLE_APP_ROOT": str(assets / "app"),
        "ORACLE_GPUS": str(gpus),
        # DeepSpeed builds its CPU communication op on first use (~1 min): once, shared by every run.
        "TORCH_EXTENSIONS_DIR": str(root / "torch_extensions"),
    }
    if distributed:  # what the scheduler sets on node 0 of a pytorch job
        env.update(RANK="0", WORLD_SIZE="2", MASTER_ADDR="127.0.0.1", MASTER_PORT="29500")
    entry = tmp / "entry.sh"
    entry.write_text(command, "utf-8")
    try:
        proc = subprocess.run(
            ["bash", str(entry)], cwd=tmp / "work", env=env, capture_output=True, text=True, timeout=600
        )
        rc, err = proc.returncode, proc.stderr
    except subprocess.TimeoutExpired:
        rc, err = 124, "timed out"
    text = log.read_text("utf-8", errors="replace") if log.exists() else ""
    marks = [line for line in text.splitlines() if line.startswith("ORACLE-ERROR:")]
    error = marks[-1][len("ORACLE-ERROR: ") :] if marks else (err.strip().splitlines() or [""])[-1]
    if rc == 0:
        shutil.rmtree(tmp, ignore_errors=True)
    return Outcome(
        case.id,
        case.kind,
        case.target,
        verdict,
        codes,
        "passes" if rc == 0 else "fails",
        "" if rc == 0 else error[:300],
        round(time.monotonic() - started, 1),
    )


def start_server(root: Path) -> tuple[subprocess.Popen[str], str]:
    sock = str(root / "oracle.sock")
    proc = subprocess.Popen(
        [str(root / "venv" / "bin" / "python"), str(HERE / "server.py"), sock],
        stdout=subprocess.PIPE,
        stderr=open(root / "server.log", "w"),  # noqa: SIM115 (open for the server's whole life)
        text=True,
    )
    assert proc.stdout is not None
    for line in proc.stdout:
        if "ready" in line:
            return proc, sock
    raise SystemExit(f"oracle server did not start; see {root / 'server.log'}")


def table(outcomes: list[Outcome]) -> str:
    count = Counter((o.scowspec, o.lf) for o in outcomes)
    cols = ("passes", "fails", "not compiled")
    rows = [f"{'scowspec vs LLaMA-Factory':<26}" + "".join(f"{c:>14}" for c in cols)]
    for v in ("error", "warning", "clean"):
        rows.append(f"{v:<26}" + "".join(f"{count[(v, c)]:>14}" for c in cols))
    return "\n".join(rows)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("root", type=Path)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--only", default="")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    root: Path = args.root.resolve()
    assets = root / "assets"
    for d in ("corpus", "runs"):
        shutil.rmtree(root / d, ignore_errors=True)
        (root / d).mkdir(parents=True)
    bin_dir = root / "bin"
    bin_dir.mkdir(exist_ok=True)
    shutil.copy(HERE / "llamafactory-cli", bin_dir / "llamafactory-cli")
    cases = [c for c in CASES if not args.only or c.id in args.only.split(",")]
    started = time.monotonic()
    server, sock = start_server(root)
    try:
        with ThreadPoolExecutor(args.jobs) as pool:
            outcomes = list(pool.map(lambda c: run_case(c, root, assets, sock, bin_dir), cases))
    finally:
        server.terminate()
        server.wait()
    elapsed = time.monotonic() - started
    fn = [o for o in outcomes if o.scowspec != "error" and o.lf == "fails"]
    fp = [o for o in outcomes if o.scowspec == "error" and o.lf == "passes"]
    agree = len(outcomes) - len(fn) - len(fp) - sum(o.lf == "not compiled" for o in outcomes)
    print(f"LLaMA-Factory oracle: {len(outcomes)} specs, {elapsed:.0f} s, {args.jobs} at a time\n")
    print(table(outcomes) + "\n")
    for title, group in (
        ("false negatives (scowspec accepts, LLaMA-Factory fails)", fn),
        ("false positives (scowspec rejects, LLaMA-Factory passes)", fp),
    ):
        print(f"{title}:")
        for o in group:
            print(
                f"  {o.id} [{o.kind}; scowspec {o.scowspec}] targets {o.target or '-'}\n      LLaMA-Factory: {o.lf_error}"
            )
            if o.codes:
                print(f"      scowspec: {o.codes[:300]}")
        print()
    not_compiled = [o.id for o in outcomes if o.lf == "not compiled"]
    if not_compiled:
        print(f"not compiled (scowspec's model cannot hold them): {', '.join(not_compiled)}\n")
    by_kind = Counter(o.kind for o in fn)
    warned = sum(o.scowspec == "warning" for o in fn)
    print(f"false negatives by kind: {dict(by_kind)}; of them warned: {warned}")
    if args.json:
        args.json.write_text(json.dumps([asdict(o) for o in outcomes], indent=1, ensure_ascii=False), "utf-8")
    print(f"{agree} agree, {len(fn)} false negatives, {len(fp)} false positives")
    return 0


if __name__ == "__main__":
    sys.exit(main())
