"""Compile many specs: load → validate → model → resolve → compile, with the portal as the only catalog."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from scowspec.compile import portal_rules
from scowspec.compile.payload import CompiledJob, compile_spec
from scowspec.compile.resolve import Catalog, resolve
from scowspec.diagnostics import Diagnostic, Report
from scowspec.pipeline import Loaded, load_specs
from scowspec.portal.client import PortalClient
from scowspec.portal.profile import DEFAULT_GENERATION, Generation, parse_generation, profile_of
from scowspec.portal.settings import from_env


@dataclass(frozen=True)
class Compiled:
    jobs: tuple[CompiledJob, ...]
    report: Report
    loaded: Loaded


def portal_url(loaded: Loaded) -> str | None:
    for project in loaded.projects:
        url = project.defaults.get("portal_url")
        if isinstance(url, str):
            return url
    return None


def portal_generation(loaded: Loaded) -> Generation | None:
    """`portal_version` from scowspec.yaml (None: "auto" or unset, so probe the portal)."""
    for project in loaded.projects:
        value = project.defaults.get("portal_version")
        if isinstance(value, str):
            return parse_generation(value)
    return None


def connect(loaded: Loaded) -> PortalClient:
    """A client for the project's portal, its generation known (probed once): a wrong base URL is one error
    here, not one per spec later."""
    client = PortalClient(from_env(portal_url(loaded), generation=portal_generation(loaded)))
    client.profile()
    return client


def compile_loaded(loaded: Loaded, catalog: Catalog | None, facts: portal_rules.PortalFacts | None = None) -> Compiled:
    """Resolve and compile every spec; with `facts`, the portal's own submit rules are checked too."""
    diags: list[Diagnostic] = list(loaded.report.diagnostics)
    jobs: list[CompiledJob] = []
    offline = profile_of(portal_generation(loaded) or DEFAULT_GENERATION)
    for spec in loaded.specs:
        resolved, problems = resolve(spec, catalog, offline)
        if facts is not None:
            problems += portal_rules.check(spec, facts, resolved)
        diags += problems
        if resolved is not None and not problems:
            jobs.append(compile_spec(spec, resolved))
    return Compiled(tuple(jobs), Report.of(diags), loaded)


def not_compiled(loaded: Loaded) -> Compiled:
    """Invalid specs stop a run before any portal work: only their own problems are reported (resolving the
    valid ones offline would add a `needs-portal` error to each of them)."""
    return Compiled((), loaded.report, loaded)


def compile_paths(paths: list[Path], *, offline: bool) -> Compiled:
    loaded = load_specs(paths)
    if offline:
        return compile_loaded(loaded, None)
    if not loaded.report.ok:
        return not_compiled(loaded)
    client = connect(loaded)
    try:
        return compile_loaded(loaded, client, client)
    finally:
        client.close()
