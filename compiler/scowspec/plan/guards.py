"""Safety guards on a plan: reasons to refuse it (exit 4) before anything is cancelled or spent."""

from __future__ import annotations

from dataclasses import dataclass

from scowspec.plan.model import Action, Plan
from scowspec.plan.services import pruned_services

DEFAULT_MASS_CANCEL_THRESHOLD = 3
# Per apply: about one 8-GPU node for five days. 300 small specs (9,600 GPU-hours) need a deliberate flag.
DEFAULT_MAX_GPU_HOURS = 1000.0


@dataclass(frozen=True)
class GuardOptions:
    threshold: int = DEFAULT_MASS_CANCEL_THRESHOLD
    allow_mass_cancel: bool = False
    max_gpu_hours: float = DEFAULT_MAX_GPU_HOURS
    allow_over_budget: bool = False


def _hours(value: float) -> str:
    return f"{value:,.1f}".rstrip("0").rstrip(".")


def refusals(plan: Plan, spec_count: int, options: GuardOptions) -> list[str]:
    """Why `plan` must not be applied as it is (empty: it may).

    Cancels are counted per project: the plan holds only this project's jobs (plan.reconcile's ownership),
    so another repository's jobs on the same portal user never count towards, or past, the threshold.
    """
    out = []
    cancelled = [j for c in plan.changes if c.action is Action.CANCEL for j in c.cancel]
    cancelled += pruned_services(plan.services)  # services stopped by prune count like jobs
    if cancelled and not options.allow_mass_cancel:
        whose = f"of project `{plan.project}`" if plan.project else "of this project"
        if spec_count == 0:
            out.append(
                f"no specs were found, so this would cancel every running job {whose} ({len(cancelled)}): "
                "check the path, or pass --allow-mass-cancel"
            )
        elif len(cancelled) > options.threshold:
            out.append(
                f"this would cancel {len(cancelled)} running jobs {whose}, more than the threshold of "
                f"{options.threshold} (mass_cancel_threshold): pass --allow-mass-cancel if that is intended"
            )
    if plan.gpu_hours > options.max_gpu_hours and not options.allow_over_budget:
        out.append(
            f"the new jobs request up to {_hours(plan.gpu_hours)} GPU-hours, more than max_gpu_hours "
            f"{_hours(options.max_gpu_hours)} (scowspec.yaml): pass --allow-over-budget if that is intended"
        )
    return out
