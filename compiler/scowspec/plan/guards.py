"""Safety guards on a plan: reasons to refuse it (exit 4) before anything is cancelled."""

from __future__ import annotations

from dataclasses import dataclass

from scowspec.plan.model import Action, Plan
from scowspec.plan.services import pruned_services

DEFAULT_MASS_CANCEL_THRESHOLD = 3
PRUNE_REASON = "its spec was removed from the repository"


@dataclass(frozen=True)
class GuardOptions:
    threshold: int = DEFAULT_MASS_CANCEL_THRESHOLD
    allow_mass_cancel: bool = False


def refusals(plan: Plan, spec_count: int, options: GuardOptions) -> list[str]:
    """Why `plan` must not be applied as it is (empty: it may)."""
    if options.allow_mass_cancel:
        return []
    pruned = [j for c in plan.changes if c.action is Action.CANCEL and c.reason == PRUNE_REASON for j in c.cancel]
    pruned += pruned_services(plan.services)  # services stopped by prune count like jobs
    out = []
    if pruned and spec_count == 0:
        out.append(
            f"no specs were found, so --prune would cancel every scowspec job ({len(pruned)}): "
            "check the path, or pass --allow-mass-cancel"
        )
    elif len(pruned) > options.threshold:
        out.append(
            f"--prune would cancel {len(pruned)} jobs, more than the threshold of {options.threshold}: "
            "pass --allow-mass-cancel if that is intended"
        )
    return out
