"""A job's outputs as scowspec reads them back: where they live, its training progress and its verify verdict.

Pure: the portal reads are in `report/readback.py`. Where `$WORK_DIR/<job>` lives follows the job's submitted
payload and the portal's Profile: on main the portal mounts WORK_DIR; on 0.5.4 only a mount point that covers
WORK_DIR (scowspec adds one) keeps what the job wrote, else it was lost with the container.
"""

from __future__ import annotations

import enum
import posixpath
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from scowspec.compile.command import posttrain_of
from scowspec.portal.profile import Profile
from scowspec.portal.types import Phase
from scowspec.report.trainlog import LogPoint, TrainLog
from scowspec.report.verifyfile import VerifyReport

TRAINER_LOG = "output/trainer_log.jsonl"
VERIFY_FILE = "verify.json"


@dataclass(frozen=True)
class Place:
    """Where the job's folder is on the cluster's storage (`job_dir`), or why its outputs are not kept."""

    job_dir: str | None
    lost_why: str = ""
    expects_verify: bool = False  # the submitted command has a verify step


def place_of(job_name: str, payload: Mapping[str, Any], profile: Profile) -> Place:
    """From the submitted payload: WORK_DIR, the mount points, and the command's post-training step."""
    post = posttrain_of(str(payload.get("command", "")))
    expects = bool(post and post.get("verify"))
    envs = {e.get("key"): e.get("value") for e in payload.get("envVariables", []) or [] if isinstance(e, Mapping)}
    work_dir = envs.get("WORK_DIR")
    if not isinstance(work_dir, str) or not work_dir.startswith("/"):
        return Place(None, "the job was submitted without WORK_DIR, so scowspec cannot tell where it wrote", expects)
    work_dir = posixpath.normpath(work_dir)
    if profile.work_dir_is_mounted:
        return Place(f"{work_dir}/{job_name}", "", expects)
    for mp in payload.get("mountPoints", []) or []:
        if not isinstance(mp, Mapping):
            continue
        target = posixpath.normpath(str(mp.get("target", "")))
        if work_dir == target or work_dir.startswith(target.rstrip("/") + "/"):
            host = posixpath.normpath(f"{mp.get('path')}/{work_dir[len(target) :]}")
            return Place(f"{host}/{job_name}", "", expects)
    return Place(
        None,
        f"outputs lost: on portal {profile.name} WORK_DIR ({work_dir}) was not mounted into this job, so its "
        "trainer_log.jsonl, verify.json and merged model stayed in the container and went with it",
        expects,
    )


class Verdict(enum.Enum):
    PASSED = "passed"
    FAILED = "failed"  # an answer missed its expectation
    ERROR = "error"  # the verify step could not run
    RUNNING = "running"  # verify.json says the step is under way
    PENDING = "pending"  # no verify.json yet; the job has not finished
    MISSING = "missing"  # the job finished without a verify.json, or it was lost or unreadable
    NONE = "none"  # the job has no verify step


# A finished job with one of these verdicts is not verified.
UNVERIFIED = frozenset({Verdict.FAILED, Verdict.ERROR, Verdict.MISSING, Verdict.RUNNING, Verdict.PENDING})


@dataclass(frozen=True)
class JobOutputs:
    place: Place
    log: TrainLog | None = None
    verify: VerifyReport | None = None
    notes: tuple[str, ...] = ()  # what could not be read, and why

    @property
    def last(self) -> LogPoint | None:
        return self.log.last if self.log else None

    @property
    def final_loss(self) -> float | None:
        losses = self.log.losses if self.log else ()
        return losses[-1][1] if losses else None

    def verdict(self, phase: Phase) -> Verdict:
        if not self.place.expects_verify:
            return Verdict.NONE
        if self.verify is not None:
            return Verdict(self.verify.status) if self.verify.status in {v.value for v in Verdict} else Verdict.ERROR
        return Verdict.PENDING if phase is Phase.ACTIVE else Verdict.MISSING

    def verified(self, phase: Phase) -> bool:
        """A finished job's verification did not fail: passed, or there was none."""
        return self.verdict(phase) in (Verdict.PASSED, Verdict.NONE)


def progress_text(point: LogPoint | None) -> str:
    """`step 40/60 (67%) loss 0.9134 eta 0:00:07`, or '' before the first row."""
    if point is None:
        return ""
    parts = [f"step {point.step}/{point.total_steps}" if point.total_steps else f"step {point.step}"]
    if point.total_steps:
        parts[0] += f" ({100 * point.step // point.total_steps}%)"
    if point.loss is not None:
        parts.append(f"loss {point.loss:.4f}")
    if point.remaining:
        parts.append(f"eta {point.remaining}")
    return " ".join(parts)
