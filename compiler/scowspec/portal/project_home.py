"""What scowspec keeps of a project on the portal itself, in the user's home (`~/.scowspec/`), so every clone sees it.

- `locks/<project>`: the apply lock (see apply.portal_lock).
- `cancelled/<project>/<cluster>.<job id>`: jobs scowspec cancelled itself (pruned, replaced, destroyed). A spec
  that comes back to such a version is submitted again as a plain submit; a job cancelled by hand stays "failed".

The portal's file routes have no small-file upload, so each fact is a folder's name, made with mkdir.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterable
from typing import Protocol

from scowspec.errors import ConflictError, NotFoundError
from scowspec.portal.types import RemoteJob

STATE_FOLDER = ".scowspec"
_RECORD = re.compile(r"^(?P<cluster>.+)\.(?P<id>[0-9]+)$")


class Files(Protocol):
    def home_dir(self, cluster: str) -> str: ...

    def mkdir(self, cluster: str, path: str) -> None: ...

    def ensure_dir(self, cluster: str, path: str, *, fresh: bool = False) -> bool: ...

    def list_directory(self, cluster: str, path: str) -> list[dict[str, object]]: ...

    def delete(self, cluster: str, path: str, *, folder: bool) -> None: ...


def state_path(client: Files, cluster: str, *parts: str) -> str:
    return "/".join([client.home_dir(cluster).rstrip("/"), STATE_FOLDER, *parts])


def cancelled_by_scowspec(client: Files, cluster: str, project: str) -> frozenset[tuple[str, int]]:
    """(cluster, job id) of every job scowspec cancelled for `project`."""
    try:
        entries = client.list_directory(cluster, state_path(client, cluster, "cancelled", project))
    except NotFoundError:
        return frozenset()
    found = set()
    for entry in entries:
        m = _RECORD.match(str(entry.get("name", "")))
        if m:
            found.add((m.group("cluster"), int(m.group("id"))))
    return frozenset(found)


def record_cancels(client: Files, cluster: str, project: str, jobs: Iterable[RemoteJob]) -> None:
    """Write ahead, before the cancels are sent: a record of a cancel that then failed only makes that job's
    version, should it end cancelled later, come back as a plain submit."""
    todo = list(jobs)
    if not todo:
        return
    folder = state_path(client, cluster, "cancelled", project)
    client.ensure_dir(cluster, folder)
    for job in todo:
        with contextlib.suppress(ConflictError):  # recorded before (a retried apply)
            client.mkdir(cluster, f"{folder}/{job.cluster}.{job.job_id}")
