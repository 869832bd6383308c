"""Doctor's judgements: what the portal and the configuration said, turned into one finding per question.

Pure functions over plain values; `probe.py` asks the portal and calls them. A finding's status sets the exit
code: the worst one wins (configuration missing 64, a portal problem 1, warnings and ok 0).
"""

from __future__ import annotations

import enum
import posixpath
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from scowspec.apply.portal_lock import LOCK_TTL_S, Holder
from scowspec.compile.resolve import Partition
from scowspec.exitcodes import ExitCode
from scowspec.portal.profile import Generation, Profile


class Status(enum.Enum):
    OK = "ok"
    WARN = "warn"  # works, but something to know
    FAIL = "fail"  # a portal problem, or the configuration does not match the portal
    CONFIG = "config"  # configuration missing or unreadable: nothing could be asked

    @property
    def rank(self) -> int:
        return list(Status).index(self)


@dataclass(frozen=True)
class Finding:
    check: str
    status: Status
    message: str
    hint: str = ""


@dataclass(frozen=True)
class DoctorReport:
    findings: tuple[Finding, ...]
    not_run: tuple[str, ...] = ()  # checks left out because an earlier finding makes them meaningless

    @property
    def worst(self) -> Status:
        return max((f.status for f in self.findings), key=lambda s: s.rank, default=Status.OK)

    @property
    def exit_code(self) -> ExitCode:
        return {Status.CONFIG: ExitCode.USAGE, Status.FAIL: ExitCode.ERROR}.get(self.worst, ExitCode.OK)


# Every check in the order doctor runs them; a fatal finding leaves the rest out.
CHECKS = (
    "config",
    "portal",
    "api",
    "token",
    "user",
    "accounts",
    "home",
    "partition",
    "time limit",
    "tensorboard",
    "work_dir",
    "apply lock",
)

SECRET_HINT = (
    "for CI, use the portal's API secret (scowApi.auth.token in common.yaml, from its administrator) as "
    "SCOWSPEC_TOKEN with SCOWSPEC_USER=<user id>; README 'On a real portal'"
)


def generation(probed: Generation, configured: Generation | None) -> Finding:
    name = f"SCOW-AI API found; the portal is generation {probed.value}"
    if configured is None:
        return Finding("api", Status.OK, f"{name} (probed; scowspec.yaml leaves portal_version to the probe)")
    if configured is probed:
        return Finding("api", Status.OK, f"{name}, as portal_version in scowspec.yaml says")
    return Finding(
        "api",
        Status.FAIL,
        f"{name}, but scowspec.yaml says portal_version: {configured.value}",
        hint=f"set portal_version: {probed.value} (or auto) in scowspec.yaml: jobs built for the other generation "
        "lose their outputs (0.5.4) or are refused (main)",
    )


def token(identity: str, user_env: str, identity_without_user: str | None) -> Finding:
    """`identity_without_user`: who the token is when asked without x-scow-user-id (None: refused, 401)."""
    if not user_env:
        return Finding(
            "token",
            Status.OK,
            f"accepted: a login token (the SCOW_USER cookie) of {identity}; it expires after 1 h unused (the "
            "portal's default)",
            hint=SECRET_HINT,
        )
    if identity_without_user is None:
        return Finding("token", Status.OK, f"accepted: the portal's API secret, acting as SCOWSPEC_USER={identity}")
    if identity_without_user != user_env:
        return Finding(
            "token",
            Status.WARN,
            f"accepted: a login token of {identity_without_user}; SCOWSPEC_USER={user_env} is ignored for it",
            hint="unset SCOWSPEC_USER, or use the API secret as SCOWSPEC_TOKEN to act as another user",
        )
    return Finding(
        "token",
        Status.OK,
        f"accepted: a login token of {identity} (SCOWSPEC_USER is not needed with it); it expires after 1 h unused",
        hint=SECRET_HINT,
    )


def accounts(found: Mapping[str, Sequence[str]], account: str | None, cluster: str | None) -> Finding:
    shown = "; ".join(f"{a} → {', '.join(c) or 'no AI cluster'}" for a, c in sorted(found.items()))
    if not found:
        return Finding(
            "accounts",
            Status.FAIL,
            "no account of yours may use an AI cluster",
            hint="ask the portal's administrator to add you to an account",
        )
    if account is None or cluster is None:
        return Finding(
            "accounts",
            Status.WARN,
            f"{shown}; scowspec.yaml names no account or cluster, so each spec must name its own",
            hint="add `account:` and `cluster:` to scowspec.yaml (one of the pairs above)",
        )
    if account not in found:
        return Finding(
            "accounts",
            Status.FAIL,
            f"account `{account}` (scowspec.yaml) is not one of yours: {shown}",
            hint="set `account` in scowspec.yaml to one of these",
        )
    if cluster not in found[account]:
        return Finding(
            "accounts",
            Status.FAIL,
            f"account `{account}` may not use cluster `{cluster}` (scowspec.yaml): {shown}",
            hint="set `cluster` in scowspec.yaml to one of the account's clusters",
        )
    return Finding("accounts", Status.OK, shown)


def homes(found: Mapping[str, str], problems: Mapping[str, str]) -> list[Finding]:
    out = [Finding("home", Status.OK, ", ".join(f"{c}: {h}" for c, h in sorted(found.items())))] if found else []
    out += [
        Finding("home", Status.FAIL, f"cluster `{c}`: {why}", hint="is the cluster online and one of yours?")
        for c, why in sorted(problems.items())
    ]
    return out


def _partition_text(p: Partition) -> str:
    what = f"{p.gpus} {p.gpu_type or 'GPU'}" if p.gpus else "no GPU"
    qos = f", qos {'/'.join(p.qos)}" if p.qos else ""
    return f"{p.name} ({what}, {p.cores} cores{qos})"


def partitions(parts: Sequence[Partition], account: str, cluster: str, wanted: str | None) -> Finding:
    shown = ", ".join(_partition_text(p) for p in parts) or "none"
    where = f"account `{account}` on `{cluster}`"
    if not parts:
        return Finding("partition", Status.FAIL, f"{where} has no partition", hint="ask the portal's administrator")
    if wanted is None:
        return Finding("partition", Status.WARN, f"{where}: {shown}; scowspec.yaml names no partition")
    if wanted not in {p.name for p in parts}:
        return Finding(
            "partition",
            Status.FAIL,
            f"partition `{wanted}` (scowspec.yaml) is not available to {where}: {shown}",
            hint="set `partition` in scowspec.yaml to one of these",
        )
    return Finding("partition", Status.OK, f"`{wanted}` is available to {where}: {shown}")


def time_limit(hours: int | None, cluster: str, profile: Profile) -> Finding:
    where = f"on `{cluster}`" if profile.max_time_per_cluster else "(the portal's one limit for every cluster)"
    if hours is None:
        return Finding("time limit", Status.OK, f"no time limit for train jobs {where}")
    return Finding(
        "time limit", Status.OK, f"train jobs may run {hours} h {where}; a longer max_time is refused at submit"
    )


def tensorboard(profile: Profile, used: bool) -> Finding:
    if profile.generation is Generation.MAIN:
        return Finding(
            "tensorboard",
            Status.OK,
            "a spec's `tensorboard:` starts TensorBoard beside the job, served at the portal's proxy address "
            "(main's job driver gives TensorBoard the proxy path prefix)",
        )
    text = (
        "0.5.4 starts TensorBoard beside the job, but its job driver passes no proxy path prefix, so whether the "
        "portal's TensorBoard link shows the pages is unknown (read from the source, not tried)"
    )
    if not used:
        return Finding("tensorboard", Status.OK, text + "; no spec here uses `tensorboard:`")
    return Finding(
        "tensorboard",
        Status.WARN,
        text,
        hint="if the link shows a blank page, read the event files from tensorboard.log_dir instead",
    )


def under(path: str, home: str) -> bool:
    path, home = posixpath.normpath(path), posixpath.normpath(home)
    return path == home or path.startswith(home.rstrip("/") + "/")


def work_dir(path: str, cluster: str, home: str, exists: bool, nearest: str) -> Finding:
    """`nearest`: the closest folder above `path` that exists (when `path` does not)."""
    if not under(path, home):
        return Finding(
            "work_dir",
            Status.FAIL,
            f"{path} is outside your home folder {home} on `{cluster}`: the portal refuses job folders there",
            hint=f"set work_dir in scowspec.yaml to a folder under {home}",
        )
    if exists:
        return Finding("work_dir", Status.OK, f"{path} exists under your home folder on `{cluster}`")
    return Finding(
        "work_dir",
        Status.OK,
        f"{path} does not exist yet; apply creates it (below {nearest}, which exists, on `{cluster}`)",
    )


def apply_lock(project: str, path: str, holders: Sequence[Holder] | None, now: float) -> Finding:
    """Whether an apply of this project holds the portal lock now (`holders`: the names in the lock folder, None
    when there is no lock folder)."""
    live = [h for h in holders or () if h.live(now, LOCK_TTL_S)]
    if live:
        return Finding(
            "apply lock",
            Status.WARN,
            f"{path} is {live[-1].describe()}: an apply of `{project}` is running, or stopped less than "
            f"{LOCK_TTL_S / 60:.0f} minutes ago without taking its name back (killed, or an answer lost)",
            hint="the next apply waits --lock-timeout seconds for it; a dead holder's lock is taken over once it expires",
        )
    if holders:
        return Finding(
            "apply lock",
            Status.WARN,
            f"{path} was left by {holders[-1].owner}, whose name is no longer valid (expired, or written by a "
            "clock far ahead): the next apply deletes it and takes the lock",
        )
    return Finding("apply lock", Status.OK, f"free: no apply of `{project}` is running ({path})")


def left_out(after: str, done: Iterable[Finding]) -> tuple[str, ...]:
    """The checks after `after` that were not run."""
    seen = {f.check for f in done}
    return tuple(c for c in CHECKS[CHECKS.index(after) + 1 :] if c not in seen)
