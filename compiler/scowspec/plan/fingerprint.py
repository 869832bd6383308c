"""A fingerprint of the portal's job list, so a saved plan is refused once the world moved under it.

It covers scowspec-shaped jobs only (name, id, phase), so a hand-submitted job or a job moving from
PENDING to RUNNING does not make every saved plan stale; a job that appears, vanishes, finishes or
fails does.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable

from scowspec.plan.identity import spec_of
from scowspec.portal.types import RemoteJob


def fingerprint(jobs: Iterable[RemoteJob], clusters: Iterable[str]) -> str:
    rows = sorted((j.cluster, j.job_id, j.name, j.phase.value) for j in jobs if spec_of(j.name) is not None)
    canon = json.dumps({"clusters": sorted(set(clusters)), "jobs": rows}, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(canon.encode()).hexdigest()[:32]
