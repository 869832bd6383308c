"""`watch` and `apply --wait` views: a live rich progress bar per job at a terminal, plain lines elsewhere (CI logs),
then each job's verdict and the outcome."""

from __future__ import annotations

from collections import Counter
from typing import IO

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn

from scowspec.follow import Snapshot
from scowspec.portal.types import Phase
from scowspec.render.status import outputs_lines, verdict_text
from scowspec.report.outputs import Verdict, progress_text


def pods_text(snap: Snapshot) -> str:
    """`pods Running×2` (counted by status), or '' when the portal gave none."""
    if not snap.pods:
        return ""
    counts = Counter(status for _, status in snap.pods)
    return "pods " + ", ".join(f"{status}×{n}" for status, n in sorted(counts.items()))


def line(snap: Snapshot) -> str:
    """One plain line: job, state, pods, progress."""
    parts = [
        f"job {snap.job.job_id} {snap.job.name}: {snap.job.state}",
        pods_text(snap),
        progress_text(snap.outputs.last),
    ]
    return "  ".join(p for p in parts if p)


def ending(snap: Snapshot) -> list[str]:
    """What a job ended with: state, final loss, verdict, and what could not be read."""
    head = f"job {snap.job.job_id} {snap.job.name} ended {snap.job.state}"
    body = [x for x in outputs_lines(snap.outputs, snap.job.phase) if not x.startswith("verify: ")]
    if snap.outputs.place.expects_verify:
        body.append(f"verify: {verdict_text(snap.outputs, snap.job.phase)}")
    verdict = "OK: completed" + (" and verified" if snap.verdict is Verdict.PASSED else "")
    if not snap.succeeded:
        verdict = "NOT OK: " + (
            "not verified" if snap.job.phase is Phase.SUCCEEDED else f"the job {snap.job.state.lower()}"
        )
    return [head, *[f"  {x}" for x in body], f"  {verdict}"]


STOPPED = (
    "Stopped watching. The job{s} keep{v} running on the portal: watching never cancels anything "
    "(`scowspec watch NAME` to follow again)."
)


def snapshot_doc(snap: Snapshot) -> dict[str, object]:
    """A followed job as JSON: what the text view ends with (apply --wait -o json)."""
    return {
        "job_id": snap.job.job_id,
        "job_name": snap.job.name,
        "cluster": snap.job.cluster,
        "state": snap.job.state,
        "verdict": snap.verdict.value,
        "final_loss": snap.outputs.final_loss if snap.ended else None,
        "succeeded": snap.succeeded,
    }


def stopped(count: int) -> str:
    return STOPPED.format(s="s" if count != 1 else "", v="" if count != 1 else "s")


class PlainView:
    """A line whenever a job's line changes; its ending once it ended."""

    def __init__(self, out: IO[str]) -> None:
        self.out = out
        self.shown: dict[int, str] = {}
        self.ended: set[int] = set()

    def update(self, snaps: list[Snapshot]) -> None:
        for snap in snaps:
            text = line(snap)
            if self.shown.get(snap.job.job_id) != text:
                self.shown[snap.job.job_id] = text
                print(text, file=self.out, flush=True)
            if snap.ended and snap.job.job_id not in self.ended:
                self.ended.add(snap.job.job_id)
                print("\n".join(ending(snap)), file=self.out, flush=True)

    def close(self) -> None:
        return None


class LiveView:
    """One rich progress bar per job: steps done of total, loss, ETA and pod states; endings printed above."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[info]}"),
            console=console,
            transient=False,
        )
        self.tasks: dict[int, TaskID] = {}
        self.ended: set[int] = set()
        self.progress.start()

    def update(self, snaps: list[Snapshot]) -> None:
        for snap in snaps:
            last = snap.outputs.last
            info = "  ".join(
                p
                for p in (
                    snap.job.state,
                    pods_text(snap),
                    f"loss {last.loss:.4f}" if last and last.loss is not None else "",
                    f"eta {last.remaining}" if last and last.remaining and not snap.ended else "",
                )
                if p
            )
            total = float(last.total_steps) if last and last.total_steps else None
            done = float(last.step) if last else 0.0
            if snap.job.job_id not in self.tasks:
                self.tasks[snap.job.job_id] = self.progress.add_task(snap.job.name, total=total, info=info)
            self.progress.update(self.tasks[snap.job.job_id], total=total, completed=done, info=info)
            if snap.ended and snap.job.job_id not in self.ended:
                self.ended.add(snap.job.job_id)
                self.progress.console.print("\n".join(ending(snap)), markup=False, highlight=False)

    def close(self) -> None:
        self.progress.stop()
