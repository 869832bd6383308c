"""make_plan is a pure function: table-driven cases with readable ids."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from scowspec.plan.guards import GuardOptions, refusals
from scowspec.plan.model import Action, Desired
from scowspec.plan.reconcile import PlanOptions, detail_wanted, make_plan
from scowspec.portal.types import RemoteJob

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
OURS = {
    "command": "# scowspec 0.1.0 | spec specs/a.yaml | digest x | job a-x | project p\n",
    "nodeCount": 2,
    "gpuCount": 2,
}
FOREIGN = {"command": "python train.py", "nodeCount": 1, "gpuCount": 1}


def want(name: str, digest: str = "aaaaaaaa", cluster: str = "c1") -> Desired:
    return Desired(
        name,
        f"{name}-{digest}",
        cluster,
        f"specs/{name}.yaml",
        {"command": "# scowspec", "clusterId": cluster},
        2,
        2,
        600,
    )


def job(job_id: int, name: str, state: str, cluster: str = "c1", started: str = "2026-11-27T10:00:00Z") -> RemoteJob:
    return RemoteJob(cluster, job_id, name, state, started)


def plan_of(
    desired: list[Desired], existing: list[RemoteJob], submitted: dict[int, Any] | None = None, **options: Any
) -> list[tuple[str, str, tuple[int, ...]]]:
    submitted = submitted if submitted is not None else {j.job_id: OURS for j in existing}
    p = make_plan(
        desired,
        existing,
        submitted,
        options=PlanOptions(**{"project": "p", "prune_scope": "specs/", **options}),
        fingerprint="f",
        clusters=("c1",),
        now=NOW,
    )
    return [(c.action.value, c.job_name, tuple(j.job_id for j in c.cancel)) for c in p.changes]


CASES = [
    pytest.param([want("a")], [], [("submit", "a-aaaaaaaa", ())], {}, id="new-spec-submits"),
    pytest.param(
        [want("a")],
        [job(1, "a-aaaaaaaa", "RUNNING")],
        [("unchanged", "a-aaaaaaaa", ())],
        {},
        id="running-current-unchanged",
    ),
    pytest.param(
        [want("a")],
        [job(1, "a-aaaaaaaa", "COMPLETED")],
        [("unchanged", "a-aaaaaaaa", ())],
        {},
        id="finished-current-is-done",
    ),
    pytest.param(
        [want("a")], [job(1, "a-aaaaaaaa", "FAILED")], [("failed", "a-aaaaaaaa", ())], {}, id="failed-current-reported"
    ),
    pytest.param(
        [want("a")],
        [job(1, "a-aaaaaaaa", "CANCELED")],
        [("submit", "a-aaaaaaaa", ())],
        {"replace": frozenset({"a"})},
        id="replace-flag-reruns-failed",
    ),
    pytest.param(
        [want("a")],
        [job(1, "a-bbbbbbbb", "RUNNING")],
        [("replace", "a-aaaaaaaa", (1,))],
        {},
        id="changed-spec-replaces-running",
    ),
    pytest.param(
        [want("a")],
        [job(1, "a-bbbbbbbb", "PENDING")],
        [("replace", "a-aaaaaaaa", (1,))],
        {},
        id="pending-counts-as-running",
    ),
    pytest.param(
        [want("a")],
        [job(1, "a-bbbbbbbb", "COMPLETED")],
        [("submit", "a-aaaaaaaa", ())],
        {},
        id="old-finished-is-history",
    ),
    pytest.param(
        [want("a")],
        [job(1, "a-bbbbbbbb", "RUNNING"), job(2, "a-aaaaaaaa", "RUNNING")],
        [("unchanged", "a-aaaaaaaa", ()), ("cancel", "a-aaaaaaaa", (1,))],
        {},
        id="superseded-running-cancelled",
    ),
    pytest.param(
        [want("a")],
        [job(1, "b-bbbbbbbb", "RUNNING")],
        [("submit", "a-aaaaaaaa", ())],
        {},
        id="removed-spec-kept-without-prune",
    ),
    pytest.param(
        [want("a")],
        [job(1, "b-bbbbbbbb", "RUNNING")],
        [("submit", "a-aaaaaaaa", ()), ("cancel", "b-bbbbbbbb", (1,))],
        {"prune": True},
        id="prune-cancels-removed-spec",
    ),
    pytest.param(
        [want("a")],
        [job(1, "b-bbbbbbbb", "COMPLETED")],
        [("submit", "a-aaaaaaaa", ())],
        {"prune": True},
        id="prune-leaves-finished-jobs",
    ),
    pytest.param(
        [want("a")],
        [job(1, "train-251127-093000", "RUNNING"), job(2, "My-Job", "RUNNING")],
        [("submit", "a-aaaaaaaa", ())],
        {"prune": True},
        id="foreign-names-never-touched",
    ),
    pytest.param(
        [want("a"), want("b")], [], [("submit", "a-aaaaaaaa", ())], {"targets": frozenset({"a"})}, id="target-limits"
    ),
    pytest.param(
        [want("a", cluster="c2")],
        [job(1, "a-bbbbbbbb", "RUNNING", cluster="c1")],
        [("replace", "a-aaaaaaaa", (1,))],
        {},
        id="cluster-move-replaces-across-clusters",
    ),
]


@pytest.mark.parametrize(("desired", "existing", "expected", "options"), CASES)
def test_make_plan(
    desired: list[Desired], existing: list[RemoteJob], expected: list[Any], options: dict[str, Any]
) -> None:
    assert plan_of(desired, existing, **options) == expected


def test_scowspec_shaped_job_not_made_by_scowspec_is_left_alone() -> None:
    existing = [job(1, "a-bbbbbbbb", "RUNNING")]
    p = make_plan(
        [want("a")], existing, {1: FOREIGN}, options=PlanOptions(), fingerprint="f", clusters=("c1",), now=NOW
    )
    assert [c.action for c in p.changes] == [Action.SUBMIT]
    assert any("was not submitted by it" in n for n in p.notes)


def test_foreign_job_with_a_scowspec_like_name_survives_prune() -> None:
    # `train-20251127` has the shape `<name>-<8 hex>`; only the command proves who made it.
    existing = [job(1, "train-20251127", "RUNNING")]
    assert plan_of([want("a")], existing, {1: FOREIGN}, prune=True) == [("submit", "a-aaaaaaaa", ())]


def test_replace_reports_lost_gpu_hours_and_changed_fields() -> None:
    before = dict(OURS, maxTime=600)
    after = want("a")
    after = Desired(
        after.spec_name, after.job_name, "c1", after.file, {"command": "# scowspec", "maxTime": 300}, 2, 2, 300
    )
    p = make_plan(
        [after],
        [job(1, "a-bbbbbbbb", "RUNNING")],
        {1: before},
        options=PlanOptions(project="p"),
        fingerprint="f",
        clusters=("c1",),
        now=NOW,
    )
    change = p.changes[0]
    assert after.gpu_hours == 20.0 and p.gpu_hours == 20.0
    assert change.lost_gpu_hours == pytest.approx(2 * 2 * 2.0)  # 2 hours × 2 nodes × 2 GPUs
    assert ("maxTime", 600, 300) in [(f.path, f.before, f.after) for f in change.changed]
    assert p.cancels_running and p.summary_line() == "Plan: 0 to submit, 1 to replace, 0 to cancel, 0 unchanged."


def test_detail_wanted_only_fetches_running_candidates() -> None:
    existing = [
        job(1, "a-aaaaaaaa", "RUNNING"),
        job(2, "a-bbbbbbbb", "RUNNING"),
        job(3, "a-cccccccc", "COMPLETED"),
        job(4, "foreign name", "RUNNING"),
    ]
    assert [j.job_id for j in detail_wanted([want("a")], existing)] == [2]


@pytest.mark.parametrize(
    ("pruned", "specs", "allow", "refused"),
    [
        pytest.param(1, 1, False, False, id="one-prune-ok"),
        pytest.param(4, 5, False, True, id="over-threshold"),
        pytest.param(4, 5, True, False, id="over-threshold-allowed"),
        pytest.param(1, 0, False, True, id="no-specs-would-cancel-all"),
    ],
)
def test_mass_cancel_guard(pruned: int, specs: int, allow: bool, refused: bool) -> None:
    existing = [job(i, f"gone{i}-bbbbbbbb", "RUNNING") for i in range(pruned)]
    desired = [want(f"s{i}") for i in range(specs)]
    p = make_plan(
        desired,
        existing,
        {j.job_id: OURS for j in existing},
        options=PlanOptions(prune=True, project="p", prune_scope="specs/"),
        fingerprint="f",
        clusters=("c1",),
        now=NOW,
    )
    assert bool(refusals(p, specs, GuardOptions(3, allow))) is refused
