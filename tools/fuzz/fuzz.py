"""scowspec's fuzzer: hostile specs, project files and saved plans through every command that reads them.

    python tools/fuzz/fuzz.py --count 50000 --seconds 3600 --seed 1 --jobs 2   # `make fuzz`
    python tools/fuzz/fuzz.py --replay 1234 --seed 1                     # one input again, verbosely
    python tools/fuzz/fuzz.py --corpus-only                              # only the saved findings

Every input is a pure function of (seed, id); a finding is also saved under the corpus folder
(`<id>-<kind>.*` plus a `.json` note) and every later run replays the corpus first.
Commands run in-process (`scowspec.cli.app.main`, SCOWSPEC_DEBUG=1 so that a bug raises), with a
hard per-input alarm; peak memory is measured with tracemalloc on a sample (and on every input that
builds bombs, deep nesting or big collections), and a few inputs also run in a real process whose
peak memory is read from the child's own VmHWM. With --jobs N, one run is N worker processes side by
side, each taking the ids n with n % N == its number; their findings are merged into one report.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import io
import json
import os
import random
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
import tracemalloc
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import mutate
import oracles

ROOT = Path(__file__).resolve().parents[2]
TESTDATA = ROOT / "tests" / "testdata"
SLOW_S = 2.0
BIG_BYTES = 200 * 1024 * 1024
HARD_S = 8.0  # --hard-s
HEAVY_OPS = {"bomb", "nest", "big-collection", "plan-deep", "anchor"}
TOKEN = "fuzz-canary-token-3f9a"

# id % 100 → what the input is
KINDS = [("spec", 45), ("bytes", 25), ("project", 8), ("filename", 6), ("value", 8), ("plan", 8)]


class Hang(BaseException):
    """Raised by the alarm: not an Exception, so no handler in scowspec swallows it."""


@dataclass
class Outcome:
    id: str
    kind: str
    ops: list[str]
    codes: list[tuple[str, int]] = field(default_factory=list)
    exceptions: list[str] = field(default_factory=list)
    slow: list[str] = field(default_factory=list)
    injections: list[str] = field(default_factory=list)
    not_verbatim: list[str] = field(default_factory=list)
    tampered: list[str] = field(default_factory=list)
    leaks: list[str] = field(default_factory=list)
    seconds: float = 0.0
    peak_bytes: int = 0

    @property
    def finding(self) -> bool:
        return bool(self.exceptions or self.slow or self.injections or self.not_verbatim or self.tampered or self.leaks)


def kind_of(n: int) -> str:
    cut = n % 100
    for kind, share in KINDS:
        if cut < share:
            return kind
        cut -= share
    return KINDS[-1][0]


def _place(exc: BaseException) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    mine = [f for f in frames if "scowspec" in f.filename] or frames
    f = mine[-1] if mine else None
    where = f"{Path(f.filename).name}:{f.lineno}" if f else "?"
    return f"{type(exc).__name__} at {where}"


class Workspace:
    """A repository folder (with .git, so the project file search stops there) the inputs are written into."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="scowspec-fuzz-"))
        (self.root / ".git").mkdir()
        self.project_text = (TESTDATA / "scowspec.yaml").read_text("utf-8")
        self.reset()

    def reset(self, project: str | bytes | None = None) -> None:
        specs = self.root / "specs"
        shutil.rmtree(specs, ignore_errors=True)
        specs.mkdir()
        for extra in ("plan.json", ".scowspec"):
            p = self.root / extra
            shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)
        data = project if project is not None else self.project_text
        target = self.root / "scowspec.yaml"
        target.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8", "surrogatepass"))


class Fuzzer:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.ws = Workspace()
        self.seeds = self._seeds()
        self.seed_data = mutate.parsed(self.seeds)
        self.project_seeds = [
            (TESTDATA / "scowspec.yaml").read_text("utf-8"),
            (ROOT / "scowspec.yaml").read_text("utf-8"),
        ]
        self.corpus = Path(args.corpus)
        self.totals: collections.Counter[str] = collections.Counter()
        self.codes: collections.Counter[str] = collections.Counter()
        self.exc_places: collections.Counter[str] = collections.Counter()
        self.findings: list[Outcome] = []
        self.max_seconds = (0.0, "")
        self.max_peak = (0, "")
        self.rss_max = (0, "")
        self.secret = TOKEN
        self.base_plan: dict[str, Any] | None = None
        from scowspec.cli import app as cli_app

        self.main = cli_app.main
        self._stdout, self._stderr = io.StringIO(), io.StringIO()
        self.offline = self._offline_seeds()

    def _seeds(self) -> list[str]:
        paths = sorted((ROOT / "specs").glob("*.yaml")) + sorted((TESTDATA / "valid").glob("*.yaml"))
        paths += sorted((TESTDATA / "invalid").glob("*.yaml"))
        return [p.read_text("utf-8") for p in paths]

    def _offline_seeds(self) -> list[str]:
        """The seeds `compile --offline` accepts: hostile file names and values go into these, so that most of
        those inputs reach the compiled command, where injection and verbatim are checked (the repository's
        own specs name portal models, so offline they stop at validation)."""
        keep = []
        old = Path.cwd()
        os.chdir(self.ws.root)
        try:
            for text in self.seeds:
                self.ws.reset()
                (self.ws.root / "specs" / "s.yaml").write_text(text, "utf-8")
                with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
                    if self.main(["compile", "--offline", "specs/s.yaml"]) == 0:
                        keep.append(text)
        finally:
            os.chdir(old)
        if not keep:
            raise SystemExit("fuzz: no seed spec compiles offline; the injection checks would see nothing")
        return keep

    # -- running one command -------------------------------------------------------------------------------
    def run(self, out: Outcome, argv: list[str], *, measure: bool) -> tuple[int, str, str]:
        """Run one command: timed without tracing; with `measure`, once more under tracemalloc for its peak
        (tracing slows allocation-heavy code several times, so that second run's time is not counted)."""
        result = self._call(out, argv, trace=False)
        if measure and result[0] not in (-2, -3):
            self._call(out, argv, trace=True)
        return result

    def _call(self, out: Outcome, argv: list[str], *, trace: bool) -> tuple[int, str, str]:
        # The same two buffers for every call: Click caches each new stream it sees in a WeakKeyDictionary whose
        # value is the stream itself, so fresh buffers per call were never freed (RSS grew to 600 MB and every
        # input got slower, down to 9 a second from 16, over 16,000 inputs).
        stdout, stderr = self._stdout, self._stderr
        for buffer in (stdout, stderr):
            buffer.seek(0)
            buffer.truncate()
        label = " ".join(argv[:2])
        if trace:
            tracemalloc.start()
        start = time.perf_counter()
        signal.setitimer(signal.ITIMER_REAL, self.args.hard_s * (4 if trace else 1))
        code = -1
        try:
            with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
                code = self.main(argv)
        except Hang:
            out.slow.append(f"{label}: killed at {self.args.hard_s:.0f} s" + (" (traced)" if trace else ""))
            code = -2
        except SystemExit as exc:
            code = int(exc.code or 0) if not isinstance(exc.code, str) else 1
        except BaseException as exc:
            out.exceptions.append(f"{label}: {_place(exc)}: {str(exc)[:160]}")
            code = -3
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            took = time.perf_counter() - start
            if trace:
                peak = tracemalloc.get_traced_memory()[1]
                tracemalloc.stop()
                out.peak_bytes = max(out.peak_bytes, peak)
                if peak > BIG_BYTES:
                    out.slow.append(f"{label}: peak {peak / 2**20:.0f} MB")
        if trace:
            return code, stdout.getvalue(), stderr.getvalue()
        out.seconds += took
        if took > SLOW_S and code != -2:
            out.slow.append(f"{label}: {took:.1f} s")
        text = stdout.getvalue() + stderr.getvalue()
        if "Internal error" in text or "Traceback (most recent call last)" in text:
            out.exceptions.append(f"{label}: printed an internal error: {text.strip().splitlines()[-1][:160]}")
        if self.secret in text:
            out.leaks.append(f"{label}: the token was printed")
        out.codes.append((label, code))
        return code, stdout.getvalue(), stderr.getvalue()

    # -- one input --------------------------------------------------------------------------------------------
    def one(self, n: int, *, replay: bool = False) -> Outcome:
        rng = random.Random(f"{self.args.seed}:{n}")
        kind = kind_of(n)
        ops: list[str] = []
        out = Outcome(f"{n}", kind, ops)
        measure = n % self.args.mem_every == 0
        if kind == "plan":
            self.plan_input(rng, out, measure)
            return out
        self.ws.reset()
        name = "f.yaml"
        data: bytes
        if kind == "spec":
            data = mutate.structured(self.seed_data, rng, ops).encode("utf-8", "surrogatepass")
        elif kind == "bytes":
            data = mutate.raw_bytes(self.seeds, rng, ops)
        elif kind == "project":
            project = mutate.structured(mutate.parsed(self.project_seeds), rng, ops)
            self.ws.reset(project.encode("utf-8", "surrogatepass"))
            data = self.seeds[rng.randrange(3)].encode("utf-8")
        elif kind == "filename":
            name = "job" + mutate._hostile_string(rng)[:120].replace("/", "_").replace("\x00", "") + ".yaml"
            ops.append("filename")
            data = rng.choice(self.offline).encode("utf-8")
        else:
            data = self.hostile_value(rng, ops)
        return self.spec_input(out, name, data, measure or bool(HEAVY_OPS & set(ops)), replay)

    def hostile_value(self, rng: random.Random, ops: list[str]) -> bytes:
        import yaml

        seed = yaml.safe_load(rng.choice(self.offline))
        tree = mutate.to_tree(seed)
        leaves = [
            (container, i)
            for container, i in mutate._slots(tree)
            if isinstance(mutate._get(container, i), str)
            and not (isinstance(container, mutate.Map) and container.pairs[i][0] in ("apiVersion", "kind", "name"))
        ]
        train = next((v for k, v in tree.pairs if k == "train"), None)
        value = mutate._hostile_string(rng)
        if isinstance(train, mutate.Map) and rng.random() < 0.4:
            key = rng.choice(["default_system", "run_name", "lora_target", "additional_target", "hub_model_id"])
            train.pairs.append((key, value))
            ops.append(f"value:train.{key}")
        elif leaves:
            container, i = rng.choice(leaves)
            mutate._set(container, i, value)
            ops.append("value")
        return mutate.dump(tree, rng).encode("utf-8", "surrogatepass")

    def spec_input(self, out: Outcome, name: str, data: bytes, measure: bool, replay: bool) -> Outcome:
        path = self.ws.root / "specs" / name
        try:
            path.write_bytes(data)
        except OSError as exc:  # a name the file system refuses
            out.codes.append(("write", -4))
            out.ops.append(f"unwritable:{exc.errno}")
            return out
        rel = f"specs/{name}"
        old = Path.cwd()
        os.chdir(self.ws.root)
        try:
            self.run(out, ["validate", "specs"], measure=measure)
            if int(out.id) % 8 == 0 or replay:
                for fmt in ("json", "github", "codequality"):
                    self.run(out, ["validate", "specs", "-o", fmt], measure=False)
            code, stdout, _ = self.run(out, ["compile", "--offline", rel], measure=measure)
            if code == 0:
                self.check_command(out, stdout, rel)
            if out.kind in ("spec", "bytes"):
                self.run(out, ["fmt", "--check", "specs"], measure=measure)
                if int(out.id) % 4 == 0 or replay:
                    self.run(out, ["fmt", "specs"], measure=False)
        finally:
            os.chdir(old)
        return out

    def check_command(self, out: Outcome, stdout: str, rel: str) -> None:
        try:
            command = json.loads(stdout)["command"]
        except (ValueError, KeyError, TypeError):
            out.injections.append("compile printed no JSON payload with a command")
            return
        why = oracles.injection(command, rel)
        if why:
            out.injections.append(why)
            return
        out.not_verbatim += oracles.not_verbatim(oracles.job_description(command))

    # -- saved plans ----------------------------------------------------------------------------------------
    def _start_sandbox(self) -> Any:
        from scowspec.sandbox.server import start
        from scowspec.sandbox.store import Clock

        return start(clock=Clock(pending_s=0.0, run_s=0.0))

    def plan_input(self, rng: random.Random, out: Outcome, measure: bool) -> None:
        from scowspec.sandbox.server import load_seed

        sandbox = self._start_sandbox()
        user = load_seed()["users"][0]
        old_env = dict(os.environ)
        old = Path.cwd()
        try:
            self.ws.reset(self.ws.project_text.replace("http://127.0.0.1:1/ai", sandbox.url))
            # One spec: the portal takes one submit per cluster per second (apply's SubmitGate waits by design),
            # so two would make every apply take over a second of deliberate waiting.
            (self.ws.root / "specs" / "s0.yaml").write_text(_small_spec("s0"), "utf-8")
            store = sandbox.portal.store
            store.add(user["id"], "ai-k8s", "hand-made-job", {"command": "echo hi"})
            for i in range(6):
                store.add(
                    user["id"], "ai-k8s", f"old{i}-0000000{i}", {"command": f"# scowspec 0.1.0 | spec x | job old{i}"}
                )
            self.secret = user["token"]
            os.environ.update(SCOWSPEC_TOKEN=user["token"], SCOWSPEC_TIMEOUT="5")
            os.environ.pop("SCOWSPEC_PORTAL_URL", None)
            os.chdir(self.ws.root)
            code, _, err = self.run(out, ["plan", "--out", "plan.json"], measure=False)
            if code != 0:
                out.exceptions.append(f"setup: plan --out exited {code}: {err.strip()[-200:]}")
                return
            plan = json.loads((self.ws.root / "plan.json").read_text("utf-8"))
            before = {j["jobId"]: j["state"] for j in store.jobs(user["id"], "ai-k8s")}
            tampered = mutate.tamper_plan(plan, rng, out.ops)
            if isinstance(tampered, dict) and "plan-portal" not in out.ops:
                tampered["fingerprint"] = _fingerprint(sandbox.url, user["token"], tampered.get("clusters", ["ai-k8s"]))
            text = tampered if isinstance(tampered, str) else json.dumps(tampered, ensure_ascii=False)
            (self.ws.root / "plan.json").write_text(text, "utf-8", errors="surrogatepass")
            argv = ["apply", "--plan", "plan.json"]
            if rng.random() < 0.8:
                argv.append("--yes")
            else:
                out.ops.append("no-yes")
                os.environ["CI"] = "1"
            code, _, err = self.run(out, argv, measure=measure or bool(HEAVY_OPS & set(out.ops)))
            after = store.jobs(user["id"], "ai-k8s")
            self.check_tampering(out, before, after, code, "no-yes" in out.ops)
            for f in (self.ws.root / ".scowspec").glob("*"):
                if f.is_file() and self.secret in f.read_text("utf-8", "replace"):
                    out.leaks.append(f"{f.name} holds the token")
        finally:
            os.chdir(old)
            os.environ.clear()
            os.environ.update(old_env)
            sandbox.shutdown()
            sandbox.server_close()

    def check_tampering(
        self, out: Outcome, before: dict[int, str], after: list[dict[str, Any]], code: int, no_yes: bool
    ) -> None:
        tampered = any(op.startswith("plan-") for op in out.ops)
        cancelled = [j for j in after if j["jobId"] in before and j["state"] != before[j["jobId"]]]
        new = [j for j in after if j["jobId"] not in before]
        if no_yes and (cancelled or new):
            out.tampered.append("applied in CI without --yes")
        if any(j["jobName"] == "hand-made-job" for j in cancelled):
            out.tampered.append("cancelled a job scowspec does not own")
        if len(cancelled) > 3:
            out.tampered.append(f"cancelled {len(cancelled)} jobs past the mass-cancel guard")
        names = [j["jobName"] for j in new]
        if len(names) != len(set(names)):
            out.tampered.append("submitted one job twice")
        expected = {f"s{i}" for i in range(2)}
        for j in new:
            if j["jobName"].rsplit("-", 1)[0] not in expected:
                out.tampered.append(f"submitted {j['jobName']}, which no spec makes")
            elif not str(j["body"].get("command", "")).startswith("# scowspec"):
                out.tampered.append("submitted a command no spec compiles to")
        if tampered and "plan-portal" in out.ops and code == 0 and new:
            out.tampered.append("applied a plan made for another portal")

    # -- the loop -------------------------------------------------------------------------------------------------
    def record(self, out: Outcome) -> None:
        self.totals["inputs"] += 1
        self.totals[f"kind:{out.kind}"] += 1
        for label, code in out.codes:
            self.codes[f"{label} → {_code_class(code)}"] += 1
        for e in out.exceptions:
            self.exc_places[e.split(": ", 1)[1].split(": ")[0] if ": " in e else e] += 1
        for what in ("exceptions", "slow", "injections", "not_verbatim", "tampered", "leaks"):
            if getattr(out, what):
                self.totals[what] += 1
        if out.seconds > self.max_seconds[0]:
            self.max_seconds = (out.seconds, out.id)
        if out.peak_bytes > self.max_peak[0]:
            self.max_peak = (out.peak_bytes, out.id)
        if out.finding:
            self.findings.append(out)

    def save(self, out: Outcome, n: int) -> None:
        self.corpus.mkdir(parents=True, exist_ok=True)
        note = self.corpus / f"{n}-{out.kind}.json"
        note.write_text(
            json.dumps({"seed": self.args.seed, "id": n, **out.__dict__}, ensure_ascii=True, indent=1) + "\n"
        )

    def rss_sample(self, n: int) -> None:
        """Run validate of the current workspace in a real process; its peak resident memory.

        Read as VmHWM from the child's own /proc/self/status at its end: a wait4 ru_maxrss would include this
        (large, long-lived) fuzzer's memory, which Linux carries over into a forked child's maximum across exec.
        """
        snippet = (
            "import contextlib, io, sys\n"
            "from scowspec.cli.app import main\n"
            "with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):\n"
            "    main(['validate', 'specs'])\n"
            "hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM:')]\n"
            "print(hwm[0].split()[1] if hwm else 0)\n"
        )
        try:
            done = subprocess.run(
                [sys.executable, "-c", snippet], cwd=self.ws.root, capture_output=True, text=True, timeout=30
            )
            rss = int((done.stdout.strip().splitlines() or ["0"])[-1]) * 1024
        except (subprocess.TimeoutExpired, ValueError):
            rss = 0
        self.totals["rss_samples"] += 1
        if rss > self.rss_max[0]:
            self.rss_max = (rss, str(n))
        if rss > BIG_BYTES:
            self.totals["rss_over_limit"] += 1

    def corpus_inputs(self) -> list[int]:
        if not self.corpus.is_dir():
            return []
        ids = []
        for note in sorted(self.corpus.glob("*.json")):
            with contextlib.suppress(ValueError, KeyError):
                meta = json.loads(note.read_text("utf-8"))
                if str(meta.get("seed")) == str(self.args.seed):
                    ids.append(int(meta["id"]))
        return ids

    def loop(self) -> int:
        signal.signal(signal.SIGALRM, _alarm)
        os.environ["SCOWSPEC_DEBUG"] = "1"
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            self.main(["validate", str(self.ws.root / "specs")])  # imports once, outside every input's time
        start = time.monotonic()
        replayed = self.corpus_inputs() if self.args.shard == 0 else []  # one worker replays the corpus
        for n in replayed:
            self.record(self.one(n))
        if self.args.corpus_only:
            return self.report(time.monotonic() - start, len(replayed))
        first = self.args.start
        for n in range(first, first + self.args.count):
            if n % self.args.shards != self.args.shard:
                continue
            if time.monotonic() - start > self.args.seconds:
                break
            out = self.one(n)
            self.record(out)
            if out.finding and not self.args.no_save:
                self.save(out, n)
            if self.args.rss_every and n % self.args.rss_every == 0 and out.kind != "plan":
                self.rss_sample(n)
            if n % 1000 == self.args.shard and n >= first + 1000:
                print(
                    f"... [worker {self.args.shard}] {self.totals['inputs']} inputs, {self.totals['exceptions']} with exceptions, "
                    f"{self.totals['slow']} slow, {time.monotonic() - start:.0f} s",
                    file=sys.stderr,
                    flush=True,
                )
        return self.report(time.monotonic() - start, len(replayed))

    def summary(self, elapsed: float, replayed: int) -> dict[str, Any]:
        """What this process found, as JSON: a worker's part of a sharded run, merged by `merge`."""
        return {
            "seed": str(self.args.seed),
            "corpus": str(self.corpus),
            "elapsed": elapsed,
            "replayed": replayed,
            "totals": dict(self.totals),
            "codes": dict(self.codes),
            "exc_places": dict(self.exc_places),
            "findings": [o.__dict__ for o in self.findings],
            "max_seconds": list(self.max_seconds),
            "max_peak": list(self.max_peak),
            "rss_max": list(self.rss_max),
        }

    def report(self, elapsed: float, replayed: int) -> int:
        done = self.summary(elapsed, replayed)
        if self.args.summary_out:
            Path(self.args.summary_out).write_text(json.dumps(done, ensure_ascii=True), "utf-8")
            return 0
        text, code = render(done)
        print(text)
        return code


def merge(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """One run's summary from its workers' (they ran side by side: the run took the longest one's time)."""
    out: dict[str, Any] = {"seed": parts[0]["seed"], "corpus": parts[0]["corpus"], "workers": len(parts)}
    out["elapsed"] = max(p["elapsed"] for p in parts)
    out["replayed"] = sum(p["replayed"] for p in parts)
    for key in ("totals", "codes", "exc_places"):
        total: collections.Counter[str] = collections.Counter()
        for p in parts:
            total.update(p[key])
        out[key] = dict(total)
    out["findings"] = [f for p in parts for f in p["findings"]]
    for key in ("max_seconds", "max_peak", "rss_max"):
        out[key] = max((p[key] for p in parts), key=lambda pair: pair[0])
    return out


def render(done: dict[str, Any]) -> tuple[str, int]:
    """The report of a run (one process or merged workers) and its exit code: 1 when anything was found."""
    t: collections.Counter[str] = collections.Counter(done["totals"])
    workers = f" by {done['workers']} workers side by side" if done.get("workers", 1) > 1 else ""
    lines = [
        f"fuzz: seed {done['seed']}, {t['inputs']} inputs ({done['replayed']} replayed from {done['corpus']}) "
        f"in {done['elapsed']:.0f} s{workers}",
        "kinds: " + ", ".join(f"{k[5:]} {v}" for k, v in sorted(t.items()) if k.startswith("kind:")),
        f"inputs with exceptions: {t['exceptions']}",
        f"inputs over {SLOW_S:.0f} s or {BIG_BYTES // 2**20} MB: {t['slow']}",
        f"injections: {t['injections']}",
        f"inputs with values not verbatim: {t['not_verbatim']}",
        f"tampered plans that got through: {t['tampered']}",
        f"token leaks: {t['leaks']}",
        f"slowest input: {done['max_seconds'][0]:.2f} s (id {done['max_seconds'][1]})",
        f"largest traced peak: {done['max_peak'][0] / 2**20:.1f} MB (id {done['max_peak'][1]})",
        f"process samples: {t['rss_samples']}, max RSS {done['rss_max'][0] / 2**20:.0f} MB "
        f"(id {done['rss_max'][1]}), {t['rss_over_limit']} over {BIG_BYTES // 2**20} MB",
        "exit-code classes:",
        *(f"  {k}: {v}" for k, v in sorted(done["codes"].items())),
    ]
    places = collections.Counter(done["exc_places"])
    if places:
        lines.append("exceptions by place:")
        lines += [f"  {v:6d}  {k}" for k, v in places.most_common()]
    shown = done["findings"][:40]
    if shown:
        lines.append("findings (first 40; replay with --replay ID):")
        for o in shown:
            what = (o["exceptions"] + o["slow"] + o["injections"] + o["not_verbatim"] + o["tampered"] + o["leaks"])[0]
            lines.append(f"  {o['id']} [{o['kind']} {','.join(o['ops'])[:60]}]: {what[:200]}")
    bad = t["exceptions"] + t["slow"] + t["injections"] + t["not_verbatim"] + t["tampered"] + t["leaks"]
    return "\n".join(lines), 1 if bad else 0


def sharded(args: argparse.Namespace) -> int:
    """One run over `--jobs` worker processes, each taking the ids n with n % jobs == its number."""
    folder = Path(tempfile.mkdtemp(prefix="scowspec-fuzz-run-"))
    try:
        workers = []
        for i in range(args.jobs):
            argv = [sys.executable, str(Path(__file__).resolve()), *sys.argv[1:]]
            argv += ["--jobs", "1", "--shard", str(i), "--shards", str(args.jobs)]
            argv += ["--summary-out", str(folder / f"{i}.json")]
            workers.append(subprocess.Popen(argv))
        codes = [w.wait() for w in workers]
        parts = []
        for i, code in enumerate(codes):
            part = folder / f"{i}.json"
            if code != 0 or not part.is_file():
                print(f"fuzz: worker {i} exited {code} without its summary", file=sys.stderr)
                return 2
            parts.append(json.loads(part.read_text("utf-8")))
        text, code = render(merge(parts))
        print(text)
        return code
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _code_class(code: int) -> str:
    return {-1: "no exit", -2: "killed (time)", -3: "exception", -4: "not written"}.get(code, str(code))


def _alarm(signum: int, frame: Any) -> None:
    raise Hang


def _small_spec(name: str) -> str:
    return (
        "apiVersion: scowspec/v1\nkind: FineTune\n"
        f"name: {name}\n"
        "model: {version_id: 3, scope: public}\n"
        "dataset: {version_id: 12, scope: mine, file: identity.json}\n"
        "resources: {nodes: 1, gpus_per_node: 1, max_time: 1h}\n"
        "train: {template: qwen}\n"
    )


def _fingerprint(url: str, token: str, clusters: Any) -> str:
    """What anyone editing a plan can recompute: the fingerprint of the portal's job list right now."""
    from scowspec.plan.service import observe
    from scowspec.portal.client import PortalClient
    from scowspec.portal.settings import PortalSettings

    try:
        names = tuple(str(c) for c in clusters)
    except TypeError:
        names = ("ai-k8s",)
    return str(observe(PortalClient(PortalSettings(url, token)), names).fingerprint)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=50_000, help="inputs to generate (after the corpus)")
    parser.add_argument("--seconds", type=float, default=3000, help="stop generating after this long")
    parser.add_argument("--seed", default="1")
    parser.add_argument("--start", type=int, default=0, help="first input id")
    parser.add_argument("--corpus", default=str(Path(__file__).resolve().parent / "corpus"))
    parser.add_argument("--corpus-only", action="store_true", help="only replay the corpus")
    parser.add_argument("--no-save", action="store_true", help="do not add findings to the corpus")
    parser.add_argument("--replay", type=int, help="run one input id and print everything about it")
    parser.add_argument("--mem-every", type=int, default=10, help="trace memory on every Nth input")
    parser.add_argument("--rss-every", type=int, default=997, help="also run every Nth input in a real process")
    parser.add_argument("--hard-s", type=float, default=HARD_S, help="stop one command after this long")
    parser.add_argument("--max-as-gb", type=float, default=4.0, help="address-space limit of this process")
    parser.add_argument("--jobs", type=int, default=1, help="worker processes of this one run (ids split among them)")
    parser.add_argument("--shard", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--shards", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--summary-out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.jobs > 1 and args.replay is None:
        return sharded(args)
    limit = int(args.max_as_gb * 2**30)
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 1000))
    fuzzer = Fuzzer(args)
    try:
        if args.replay is not None:
            signal.signal(signal.SIGALRM, _alarm)
            os.environ["SCOWSPEC_DEBUG"] = "1"
            out = fuzzer.one(args.replay, replay=True)
            print(json.dumps(out.__dict__, indent=1, ensure_ascii=True))
            return 1 if out.finding else 0
        return fuzzer.loop()
    finally:
        shutil.rmtree(fuzzer.ws.root, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
