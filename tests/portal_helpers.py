"""Helpers for tests that drive the sandbox: a project folder, fault injection, and a look at its jobs."""

from __future__ import annotations

import json
import shutil
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from scowspec.sandbox.files import FileDriver
from scowspec.sandbox.server import SandboxServer, start

from .conftest import ROOT

SPEC = """\
apiVersion: scowspec/v1
kind: FineTune
name: {name}
model: {{version_id: 3, scope: public}}
dataset: {{version_id: 12, scope: mine, file: identity.json}}
resources: {{nodes: 1, gpus_per_node: 1, max_time: 1h}}
train: {{template: qwen, learning_rate: {lr}}}
"""


def make_project(
    folder: Path,
    sandbox: SandboxServer,
    *,
    tutorial: bool = True,
    extra: int = 0,
    prune: bool = False,
    project: str | None = "lab-a",
    settings: tuple[str, ...] = (),
) -> Path:
    """A GitOps repository: scowspec.yaml pointing at the sandbox, the tutorial specs, and `extra` small specs.

    `project` None writes no id (a repository from before ids); `settings` are extra scowspec.yaml lines.
    """
    (folder / "specs").mkdir(parents=True, exist_ok=True)
    lines = [f"project: {project}"] if project else []
    lines += [
        f"portal_url: {sandbox.url}",
        "cluster: ai-k8s",
        "account: a_pku",
        "partition: gpu",
        "image: app-store-images.pku.edu.cn/hiyouga/llamafactory:0.9.4",
        "work_dir: /data/home/alice/finetune",
    ]
    if prune:
        lines.append("prune: true")
    lines += settings
    (folder / "scowspec.yaml").write_text("\n".join(lines) + "\n", "utf-8")
    if tutorial:
        for spec in (ROOT / "specs").glob("*.yaml"):
            shutil.copy(spec, folder / "specs" / spec.name)
    for i in range(extra):
        write_small(folder, f"small-{i}")
    return folder


def write_small(folder: Path, name: str, lr: str = "1.0e-4") -> Path:
    path = folder / "specs" / f"{name}.yaml"
    path.write_text(SPEC.format(name=name, lr=lr), "utf-8")
    return path


def admin(sandbox: SandboxServer, path: str, body: dict[str, Any] | None = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(
        f"http://{sandbox.server_address[0]}:{sandbox.server_address[1]}/_sandbox/{path}",
        data=data,
        method="POST" if data is not None else "GET",
        headers={"content-type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read() or b"null")


def jobs(sandbox: SandboxServer) -> list[dict[str, Any]]:
    """Every job alice has on the sandbox, newest first."""
    return sandbox.portal.store.jobs("alice", "ai-k8s")


def names(sandbox: SandboxServer, state: str | None = None) -> list[str]:
    return sorted(j["jobName"] for j in jobs(sandbox) if state is None or j["state"] == state)


@contextmanager
def sandbox_over(driver: FileDriver) -> Iterator[SandboxServer]:
    """A sandbox whose files go through `driver`, for the tests that need both drivers on one generation."""
    server = start(file_driver=driver)
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
