"""`make bench`: speed figures, printed (never asserted in tests).

1. validate + compile 1,000 generated specs vs a bare ruamel.yaml load of the same files (target ≤ 1.5×);
2. `scowspec --version` cold start (target < 0.3 s);
3. plan 1,000 specs against 10,000 existing jobs: HTTP requests and CPU seconds (target < 2 s CPU);
4. apply 100 submits to ONE cluster against the sandbox's real one-second job folders: 0 collisions, within
   1.15x of the one-submit-per-second floor;
5. apply 100 submits to 100 clusters (one each) against 50 ms of portal latency, --parallelism 1 vs 10 (target
   ≥ 6×): only submits to different clusters (and reads) run side by side.
The portal is the sandbox, run as its own process on 127.0.0.1 (plan) or on a thread of this one (apply, where only
wall time is measured).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from ruamel.yaml import YAML

from scowspec.apply.executor import apply_plan
from scowspec.apply.journal import Journal
from scowspec.compile.service import compile_loaded
from scowspec.pipeline import load_specs
from scowspec.plan.reconcile import PlanOptions
from scowspec.plan.service import build_plan
from scowspec.portal.client import PortalClient
from scowspec.portal.settings import PortalSettings
from scowspec.sandbox.server import Portal, SandboxServer, load_seed
from scowspec.sandbox.store import Clock, Store

ROOT = Path(__file__).resolve().parents[1]
SPEC = """\
# yaml-language-server: $schema=../schema/finetune.schema.json
apiVersion: scowspec/v1
kind: FineTune
name: bench-{i}
model: {{version_id: 3, scope: public}}
dataset:
  version_id: 12
  scope: mine
  file: identity.json
  formatting: alpaca
  placeholders: {{name: 北大人工智能助手, author: 北京大学}}
resources: {{nodes: 2, gpus_per_node: 2, max_time: 10h, cpus_per_node: 32, memory_mb: 524288, gpu_type: nvidia.com/gpu}}
train:
  stage: sft
  finetuning_type: lora
  lora_target: all
  template: qwen
  cutoff_len: 1024
  max_samples: 1000
  num_train_epochs: {epochs}.0
  learning_rate: 1.0e-4
  lr_scheduler_type: cosine
export: {{export_size: 5, export_device: auto, export_legacy_format: false}}
tensorboard: {{log_dir: /data/home/alice/logs/tensorboard}}
"""
PROJECT = """\
project: bench
portal_url: {url}
max_gpu_hours: 1000000
cluster: ai-k8s
account: a_pku
partition: gpu
image: app-store-images.pku.edu.cn/hiyouga/llamafactory:0.9.4
work_dir: /data/home/alice/finetune
"""


def make_specs(folder: Path, n: int, url: str = "http://127.0.0.1:1/ai") -> list[Path]:
    (folder / "specs").mkdir(parents=True, exist_ok=True)
    (folder / "scowspec.yaml").write_text(PROJECT.format(url=url), "utf-8")
    paths = []
    for i in range(n):
        p = folder / "specs" / f"bench-{i:04d}.yaml"
        p.write_text(SPEC.format(i=i, epochs=1 + i % 20), "utf-8")
        paths.append(p)
    return paths


def best(fn: object, repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()  # type: ignore[operator]
        times.append(time.perf_counter() - t)
    return min(times)


def bench_compile() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        paths = make_specs(Path(tmp), 1000)
        yaml = YAML(typ="rt")

        def bare() -> None:
            for p in paths:
                yaml.load(p.read_text("utf-8"))

        def ours() -> None:
            compiled = compile_loaded(load_specs([Path(tmp) / "specs"]), None)
            assert compiled.report.ok and len(compiled.jobs) == 1000, compiled.report.errors[:3]

        t_bare, t_ours = best(bare), best(ours)
        print(
            f"validate+compile: 1000 specs in {t_ours:.3f} s = {1000 / t_ours:,.0f} specs/s; "
            f"bare ruamel.yaml load {t_bare:.3f} s; ratio {t_ours / t_bare:.2f}x (target <= 1.5x)"
        )


def bench_cold_start() -> None:
    exe = Path(sys.executable).parent / "scowspec"
    cmd = [str(exe), "--version"] if exe.exists() else [sys.executable, "-m", "scowspec", "--version"]
    t = best(lambda: subprocess.run(cmd, check=True, capture_output=True), repeat=7)
    print(f"cold start: `scowspec --version` {t * 1000:.0f} ms (best of 7; target < 300 ms)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _sandbox(state: Path, latency_ms: int = 0) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "scowspec",
            "sandbox",
            "--port",
            str(port),
            "--state",
            str(state),
            "--pending-seconds",
            "0",
            "--latency-ms",
            str(latency_ms),
        ],
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.05)
    return proc, f"http://127.0.0.1:{port}/ai"


def bench_plan() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        state = folder / "sandbox.db"
        store = Store(str(state), Clock())
        make_specs(folder, 1000)
        compiled = compile_loaded(load_specs([folder / "specs"]), None)
        body = {"command": "# scowspec bench", "nodeCount": 2, "gpuCount": 2}
        rows: list[tuple[str, str, str, dict[str, object], str | None]] = []
        for i, job in enumerate(compiled.jobs):  # 500 specs already have their current job
            if i % 2 == 0:
                rows.append(("alice", "ai-k8s", job.job_name, body, None))
        while len(rows) < 10_000:  # history: finished jobs of older digests, and other people's jobs
            k = len(rows)
            name = f"bench-{k % 1000}-{k:08x}" if k % 3 else f"train-{k}"
            rows.append(("alice", "ai-k8s", name, body, "COMPLETED"))
        store.add_many(rows)
        store.close()
        proc, url = _sandbox(state)
        try:
            (folder / "scowspec.yaml").write_text(PROJECT.format(url=url), "utf-8")
            client = PortalClient(PortalSettings(url, "sandbox-token"))
            cpu, wall = time.process_time(), time.perf_counter()
            loaded = load_specs([folder / "specs"])
            plan = build_plan(compile_loaded(loaded, client), client, PlanOptions())
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
            print(
                f"plan: 1000 specs vs 10,000 jobs: {plan.summary_line()} {client.requests_made} HTTP requests, "
                f"{cpu:.2f} s CPU (target < 2 s), {wall:.2f} s wall"
            )
        finally:
            proc.terminate()
            proc.wait()


def _apply(specs: int, clusters: int, parallelism: int, latency_ms: int) -> tuple[float, int, int, int]:
    """Plan and apply `specs` new specs spread over `clusters` clusters; (seconds, requests, jobs, job folders)."""
    seed = load_seed()
    base = seed["clusters"]["ai-k8s"]
    seed["clusters"] = {f"ai-k8s-{c}": base for c in range(clusters)}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        portal = Portal(Store(":memory:", Clock(pending_s=0.0)), seed=seed)
        portal.faults.latency_ms = latency_ms
        server = SandboxServer("127.0.0.1", 0, portal)
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        try:
            paths = make_specs(folder, specs, server.url)
            for i, p in enumerate(paths):
                p.write_text(p.read_text("utf-8") + f"cluster: ai-k8s-{i % clusters}\n", "utf-8")
            client = PortalClient(PortalSettings(server.url, "sandbox-token"))
            plan = build_plan(compile_loaded(load_specs([folder / "specs"]), client), client, PlanOptions())
            before = client.requests_made
            t = time.perf_counter()
            result = apply_plan(plan, client, Journal(folder / ".scowspec" / "journal.json"), parallelism=parallelism)
            took = time.perf_counter() - t
            assert len(result.results) == specs, result
            bad = [r.message for r in result.results if r.outcome.value != "done"]
            assert not bad, bad[:3]
            every = [j for c in seed["clusters"] for j in portal.store.all_jobs("alice", c)]
            folders = len({(j["cluster"], j["sessionId"]) for j in every})
            return took, client.requests_made - before, len(every), folders
        finally:
            server.shutdown()
            server.server_close()


def bench_apply_one_cluster() -> None:
    took, requests, jobs, folders = _apply(100, 1, parallelism=10, latency_ms=0)
    print(
        f"apply: 100 submits to one cluster, --parallelism 10: {took:.2f} s = {took / 100:.3f} s/submit, "
        f"{took / 100:.2f}x the one-per-second floor (target <= 1.15x); {jobs} jobs in {folders} job folders: "
        f"{jobs - folders} collisions; {requests} HTTP requests"
    )


def bench_apply_clusters() -> None:
    results = {}
    for parallelism in (1, 10):
        took, requests, jobs, folders = _apply(100, 100, parallelism=parallelism, latency_ms=50)
        results[parallelism] = took
        print(
            f"apply: 100 submits to 100 clusters, 50 ms latency, --parallelism {parallelism}: {took:.2f} s, "
            f"{requests} HTTP requests, {jobs - folders} collisions"
        )
    print(f"apply speed-up across clusters with --parallelism 10: {results[1] / results[10]:.1f}x (target >= 6x)")


if __name__ == "__main__":
    os.environ.pop("SCOWSPEC_PORTAL_URL", None)
    print(f"machine: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}")
    bench_compile()
    bench_cold_start()
    bench_plan()
    bench_apply_one_cluster()
    bench_apply_clusters()
