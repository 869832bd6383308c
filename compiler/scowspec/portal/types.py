"""What the portal tells us about jobs, as typed values."""

from __future__ import annotations

import enum
from dataclasses import dataclass

ACTIVE_STATES = frozenset({"PENDING", "QUEUED", "RUNNING"})
SUCCEEDED_STATES = frozenset({"COMPLETED"})


class Phase(enum.Enum):
    """The portal's many states folded into what reconciliation needs."""

    ACTIVE = "active"  # pending, queued or running
    SUCCEEDED = "succeeded"
    FAILED = "failed"  # failed, cancelled, timed out, node failure, …

    @classmethod
    def of(cls, state: str) -> Phase:
        s = state.upper()
        if s in ACTIVE_STATES:
            return cls.ACTIVE
        if s in SUCCEEDED_STATES:
            return cls.SUCCEEDED
        return cls.FAILED


@dataclass(frozen=True)
class RemoteJob:
    cluster: str
    job_id: int
    name: str
    state: str
    submit_time: str = ""
    session_id: str = ""
    job_type: str = "train"  # or "infer", "app" (a serve: block's services)

    @property
    def phase(self) -> Phase:
        return Phase.of(self.state)
