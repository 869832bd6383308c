"""Doctor's questions to the configuration and the portal, in order; each answer judged by `checks`.

A fatal finding (no configuration, nothing at the URL, no SCOW-AI API there, a refused token) ends the run:
every later check would fail for the same reason, and one clear error beats ten.
"""

from __future__ import annotations

import posixpath
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from scowspec.apply import portal_lock
from scowspec.compile.service import portal_generation, portal_url
from scowspec.doctor import checks
from scowspec.doctor.checks import DoctorReport, Finding, Status
from scowspec.errors import AuthError, ConfigError, PortalError, TransportError
from scowspec.pipeline import Loaded, load_specs
from scowspec.portal.client import TOKEN_HINT, PortalClient
from scowspec.portal.profile import Profile
from scowspec.portal.settings import PortalSettings, from_env
from scowspec.render import diagnostics as diagnostics_view
from scowspec.workflow import lock_cluster


@dataclass(frozen=True)
class Wanted:
    """What the project asks of the portal (scowspec.yaml, and the specs for work folders and TensorBoard)."""

    account: str | None
    cluster: str | None
    partition: str | None
    work_dirs: tuple[tuple[str, str], ...]  # (cluster, work_dir), project's first
    tensorboard: bool
    project: str = ""  # the project id, when the paths name one
    lock_cluster: str = ""  # where its apply lock lives (workflow.lock_cluster)


def wanted_of(loaded: Loaded) -> Wanted:
    project = loaded.projects[0].defaults if loaded.projects else {}

    def text(key: str) -> str | None:
        value = project.get(key)
        return value if isinstance(value, str) else None

    dirs: list[tuple[str, str]] = []
    cluster, work_dir = text("cluster"), text("work_dir")
    if cluster and work_dir:
        dirs.append((cluster, work_dir))
    for spec in loaded.specs:
        if (spec.cluster, spec.work_dir) not in dirs:
            dirs.append((spec.cluster, spec.work_dir))
    return Wanted(
        text("account"),
        cluster,
        text("partition"),
        tuple(dirs),
        any(spec.tensorboard_dir for spec in loaded.specs),
        loaded.project_id,
        lock_cluster(loaded),
    )


class _Stop(Exception):
    """A fatal finding: the checks after it are left out."""


def run(paths: list[Path]) -> DoctorReport:
    findings: list[Finding] = []
    try:
        _run(paths, findings)
    except _Stop:
        return DoctorReport(tuple(findings), checks.left_out(findings[-1].check, findings))
    return DoctorReport(tuple(findings))


def _fatal(findings: list[Finding], finding: Finding) -> _Stop:
    findings.append(finding)
    return _Stop()


def _configuration(paths: list[Path], findings: list[Finding]) -> tuple[Loaded, PortalSettings]:
    loaded = load_specs(paths)
    project_problems = [d for d in loaded.report.errors if d.file.endswith("scowspec.yaml")]
    if project_problems:
        first = project_problems[0]
        raise _fatal(
            findings,
            Finding(
                "config",
                Status.CONFIG,
                f"{first.file} has {len(project_problems)} problem(s), first: {diagnostics_view.line(first)}",
                hint="run `scowspec validate` to see them all",
            ),
        )
    try:
        settings = from_env(portal_url(loaded), generation=portal_generation(loaded))
    except ConfigError as exc:
        raise _fatal(findings, Finding("config", Status.CONFIG, exc.message, exc.hint)) from None
    where = loaded.projects[0].file if loaded.projects else None
    if where is None:
        findings.append(
            Finding(
                "config",
                Status.WARN,
                f"no scowspec.yaml found for {', '.join(map(str, paths))}; portal {settings.url}",
                hint="project checks (account, partition, work_dir) need scowspec.yaml beside specs/",
            )
        )
    else:
        findings.append(Finding("config", Status.OK, f"{where}; portal {settings.url}"))
    return loaded, settings


def _api(settings: PortalSettings, findings: list[Finding]) -> Profile:
    """Probe the portal even when scowspec.yaml names portal_version: doctor says whether they agree."""
    client = PortalClient(replace(settings, generation=None), retries=1)
    try:
        probed = client.profile()
    except TransportError as exc:
        raise _fatal(findings, Finding("portal", Status.FAIL, exc.message, exc.hint)) from None
    except PortalError as exc:
        findings.append(Finding("portal", Status.OK, f"{settings.url} answers"))
        raise _fatal(findings, Finding("api", Status.FAIL, exc.message, _base_url_hint(settings) or exc.hint)) from None
    finally:
        client.close()
    findings.append(Finding("portal", Status.OK, f"{settings.url} answers"))
    findings.append(checks.generation(probed.generation, settings.generation))
    return probed


def _base_url_hint(settings: PortalSettings) -> str:
    """When `{url}/ai` is a SCOW-AI portal, say so: the usual mistake is the HPC portal's address."""
    if settings.url.endswith("/ai"):
        return ""
    guess = PortalClient(replace(settings, url=settings.url + "/ai", generation=None), retries=1)
    try:
        found = guess.profile()
    except PortalError:
        return ""
    finally:
        guess.close()
    return f"portal_url should be {settings.url}/ai: SCOW-AI {found.name} answers there"


def _token(client: PortalClient, settings: PortalSettings, findings: list[Finding]) -> str:
    try:
        identity = client.user_id()
    except AuthError:
        raise _fatal(
            findings,
            Finding(
                "token", Status.FAIL, "the portal refused SCOWSPEC_TOKEN (401): it is wrong or has expired", TOKEN_HINT
            ),
        ) from None
    without: str | None = None
    if settings.user:
        bare = PortalClient(replace(settings, user=""), retries=1)
        try:
            without = bare.user_id()
        except AuthError:
            without = None  # the API secret needs x-scow-user-id
        finally:
            bare.close()
    findings.append(checks.token(identity, settings.user, without))
    findings.append(Finding("user", Status.OK, identity or "(the portal gave no user id)"))
    return identity


def _run(paths: list[Path], findings: list[Finding]) -> None:
    loaded, settings = _configuration(paths, findings)
    profile = _api(settings, findings)
    client = PortalClient(replace(settings, generation=profile.generation), retries=2)
    try:
        _token(client, settings, findings)
        _portal_facts(client, profile, wanted_of(loaded), findings)
    except TransportError as exc:
        raise _fatal(findings, Finding("portal", Status.FAIL, exc.message, exc.hint)) from None
    except AuthError as exc:  # the token expired half-way
        raise _fatal(findings, Finding("token", Status.FAIL, exc.message, exc.hint)) from None
    finally:
        client.close()


def _portal_facts(client: PortalClient, profile: Profile, want: Wanted, findings: list[Finding]) -> None:
    try:
        found = client.accounts_and_clusters()
    except PortalError as exc:
        if isinstance(exc, AuthError | TransportError):
            raise
        verdict = Finding("accounts", Status.FAIL, exc.message, exc.hint)
        found = {}
    else:
        verdict = checks.accounts(found, want.account, want.cluster)
    findings.append(verdict)
    clusters = sorted({c for cs in found.values() for c in cs} | {c for c, _ in want.work_dirs})
    homes, problems = {}, {}
    for cluster in clusters:
        try:
            homes[cluster] = client.home_dir(cluster)
        except PortalError as exc:
            if isinstance(exc, AuthError | TransportError):
                raise
            problems[cluster] = exc.message
    findings += checks.homes(homes, problems)
    if want.account and want.cluster and verdict.status is not Status.FAIL:  # else: the same cause twice
        try:
            parts = client.available_partitions(want.cluster, want.account)
        except PortalError as exc:
            if isinstance(exc, AuthError | TransportError):
                raise
            findings.append(Finding("partition", Status.FAIL, exc.message, exc.hint))
        else:
            findings.append(checks.partitions(parts, want.account, want.cluster, want.partition))
    for cluster in sorted({want.cluster or "", *(c for c, _ in want.work_dirs)} - {""}):
        findings.append(_asked("time limit", _time_limit, client, cluster, profile))
        if not profile.max_time_per_cluster:
            break  # one global limit
    findings.append(checks.tensorboard(profile, want.tensorboard))
    for cluster, work_dir in want.work_dirs:
        if cluster not in homes:
            continue  # its home folder is already reported as a problem
        findings.append(_asked("work_dir", _work_dir, client, cluster, work_dir, homes[cluster]))
    if want.project and want.lock_cluster in homes:
        findings.append(_asked("apply lock", _apply_lock, client, want.lock_cluster, want.project))


def _asked(check: str, ask: Callable[..., Finding], *args: object) -> Finding:
    """One check's finding; a portal error (other than an expired token or no answer, which end the run) is that
    check's failure, and the checks after it still run."""
    try:
        return ask(*args)
    except PortalError as exc:
        if isinstance(exc, AuthError | TransportError):
            raise
        return Finding(check, Status.FAIL, exc.message, exc.hint)


def _time_limit(client: PortalClient, cluster: str, profile: Profile) -> Finding:
    return checks.time_limit(client.max_running_hours(cluster), cluster, profile)


def _apply_lock(client: PortalClient, cluster: str, project: str) -> Finding:
    holders = portal_lock.holders_now(client, cluster, project)
    return checks.apply_lock(project, portal_lock.lock_path(client, cluster, project), holders, time.time())


def _work_dir(client: PortalClient, cluster: str, path: str, home: str) -> Finding:
    if not checks.under(path, home):
        return checks.work_dir(path, cluster, home, False, "")
    here = posixpath.normpath(path)
    exists = client.exists(cluster, here)
    nearest = here
    while not exists and nearest not in ("/", home):
        nearest = posixpath.dirname(nearest)
        if client.exists(cluster, nearest):
            break
    return checks.work_dir(path, cluster, home, exists, nearest)
