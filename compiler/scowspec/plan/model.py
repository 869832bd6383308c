"""The plan as a value: computed once, rendered, saved, and applied exactly."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from scowspec.plan.services import ServicePlan
from scowspec.portal.types import RemoteJob


class Action(enum.Enum):
    SUBMIT = "submit"  # no job for the current digest: submit it
    REPLACE = "replace"  # an older digest is still running: cancel it, then submit
    CANCEL = "cancel"  # a job to stop: its spec was removed (--prune) or a newer job superseded it
    UNCHANGED = "unchanged"  # a job for the current digest exists, running or finished
    FAILED = "failed"  # the job for the current digest failed or was cancelled: reported, not resubmitted

    @property
    def changes_anything(self) -> bool:
        return self in (Action.SUBMIT, Action.REPLACE, Action.CANCEL)


SYMBOLS = {
    Action.SUBMIT: "+",
    Action.REPLACE: "-/+",
    Action.CANCEL: "-",
    Action.UNCHANGED: "=",
    Action.FAILED: "!",
}


@dataclass(frozen=True)
class FieldChange:
    path: str
    before: Any
    after: Any


@dataclass(frozen=True)
class Desired:
    """One compiled spec, as the plan needs it."""

    spec_name: str
    job_name: str
    cluster: str
    file: str
    payload: dict[str, Any]
    nodes: int
    gpus_per_node: int
    max_time_minutes: int
    defaults: tuple[tuple[str, Any], ...] = ()

    @property
    def gpu_hours(self) -> float:
        """What the job may use at most: nodes × GPUs × time limit."""
        return self.nodes * self.gpus_per_node * self.max_time_minutes / 60


@dataclass(frozen=True)
class Change:
    action: Action
    spec_name: str
    job_name: str
    cluster: str
    reason: str
    file: str = ""
    desired: Desired | None = None  # what to submit (SUBMIT, REPLACE)
    cancel: tuple[RemoteJob, ...] = ()  # what to cancel (REPLACE, CANCEL)
    current: RemoteJob | None = None  # the job that matches (UNCHANGED, FAILED)
    known_ids: tuple[int, ...] = ()  # jobs of this name seen at plan time (a submit must not find another)
    changed: tuple[FieldChange, ...] = ()  # what differs from the job being replaced
    lost_gpu_hours: float = 0.0  # elapsed GPU time of running jobs this change cancels


@dataclass(frozen=True)
class Plan:
    changes: tuple[Change, ...]
    fingerprint: str
    clusters: tuple[str, ...]
    notes: tuple[str, ...] = ()  # foreign or orphaned jobs left alone, and why
    created_at: str = ""
    scowspec_version: str = ""
    portal_url: str = ""
    unmatched: int = 0  # specs missing from the folders planned whose jobs still run (left alone without --prune)
    project: str = ""  # the project id the plan was made for (ownership, the portal-side lock)
    lock_cluster: str = ""  # the cluster whose home folder holds the project's apply lock
    services: ServicePlan | None = None  # register: and serve: (plan/services.py)
    # --destroy / `scowspec cancel`: the specs stay, their jobs were stopped on purpose (not to come back by
    # themselves, unlike a replaced or pruned version).
    destroy: bool = False

    def count(self, action: Action) -> int:
        return sum(1 for c in self.changes if c.action is action)

    @property
    def has_changes(self) -> bool:
        return any(c.action.changes_anything for c in self.changes) or bool(self.services and self.services.has_changes)

    @property
    def cancels_running(self) -> bool:
        """Whether applying stops a job that is running (asks for a typed `yes`)."""
        stops = [j for c in self.services.changes for j in c.stop] if self.services is not None else []
        return any(j.phase.value == "active" for c in self.changes for j in c.cancel) or any(
            j.phase.value == "active" for j in stops
        )

    @property
    def gpu_hours(self) -> float:
        return sum(c.desired.gpu_hours for c in self.changes if c.desired is not None and c.action.changes_anything)

    @property
    def new_jobs(self) -> int:
        return sum(1 for c in self.changes if c.desired is not None and c.action.changes_anything)

    @property
    def matches(self) -> bool:
        """Nothing to do and nothing amiss: no change, no failed current job, no job of a missing spec running."""
        return not self.has_changes and not self.count(Action.FAILED) and not self.unmatched

    def summary_line(self) -> str:
        failed = self.count(Action.FAILED)
        return (
            f"Plan: {self.count(Action.SUBMIT)} to submit, {self.count(Action.REPLACE)} to replace, "
            f"{self.count(Action.CANCEL)} to cancel, {self.count(Action.UNCHANGED)} unchanged"
            + (f", {failed} failed." if failed else ".")
        )
