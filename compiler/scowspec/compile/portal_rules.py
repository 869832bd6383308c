"""The portal's own submit rules, checked at plan time and located on the spec's lines.

Without this, each surfaces only at apply, one per round, as a refused submit: a path outside the user's real
home folder, a spec mount or dataset file that does not exist (the portal stats every mount source), a time
limit above the cluster's, an account that cannot use the cluster. Pure over a PortalFacts reader: the client
(which caches each answer for the run) or a fixture.
"""

from __future__ import annotations

import posixpath
from typing import Protocol

from scowspec.compile.resolve import AssetKind, Resolved
from scowspec.diagnostics import Diagnostic, JsonPath, Severity
from scowspec.model.spec import FineTuneSpec, RefKind


class PortalFacts(Protocol):
    def home_dir(self, cluster: str) -> str: ...

    def exists(self, cluster: str, path: str) -> bool: ...

    def max_running_hours(self, cluster: str) -> int | None: ...

    def accounts_and_clusters(self) -> dict[str, list[str]]: ...

    def asset_path(self, kind: AssetKind, version_id: int) -> str | None: ...


def _at(spec: FineTuneSpec, path: JsonPath, code: str, message: str) -> Diagnostic:
    span = spec.origin.span(path) if spec.origin else None
    return Diagnostic(Severity.ERROR, code, message, spec.file, span, path)


def _under(path: str, home: str) -> bool:
    path = posixpath.normpath(path)
    return path == home or path.startswith(home.rstrip("/") + "/")


def check(spec: FineTuneSpec, portal: PortalFacts, resolved: Resolved | None = None) -> list[Diagnostic]:
    diags: list[Diagnostic] = []
    accounts = portal.accounts_and_clusters()
    if accounts and spec.cluster not in accounts.get(spec.account, []):
        usable = ", ".join(sorted(a for a, cs in accounts.items() if spec.cluster in cs)) or "none"
        diags.append(
            _at(
                spec,
                ("account",),
                "portal-account",
                f"account `{spec.account}` cannot submit to cluster `{spec.cluster}` (accounts that can: {usable})",
            )
        )
    home = portal.home_dir(spec.cluster)
    hosted: list[tuple[JsonPath, str, str]] = [(("work_dir",), spec.work_dir, "work_dir")]
    if spec.tensorboard_dir:
        hosted.append((("tensorboard", "log_dir"), spec.tensorboard_dir, "tensorboard.log_dir"))
    hosted += [(("mounts", i, "path"), m.path, f"mounts[{i}].path") for i, m in enumerate(spec.mounts)]
    for where, path, what in hosted:
        if not _under(path, home):
            diags.append(
                _at(spec, where, "portal-home", f"{what} `{path}` is outside your home folder `{home}` on the portal")
            )
    for i, mount in enumerate(spec.mounts):
        if _under(mount.path, home) and not portal.exists(spec.cluster, mount.path):
            diags.append(
                _at(
                    spec,
                    ("mounts", i, "path"),
                    "portal-missing",
                    f"mount source `{mount.path}` does not exist on the portal (it is not created for you: "
                    "a missing folder here is usually a typo)",
                )
            )
    ds = spec.dataset
    if ds.ref.kind is RefKind.PATH:
        data = posixpath.join(ds.ref.path, ds.file) if ds.file else ds.ref.path
        if not portal.exists(spec.cluster, data):
            diags.append(
                _at(spec, ("dataset", "path"), "portal-missing", f"dataset `{data}` does not exist on the portal")
            )
    elif ds.file and resolved is not None:
        root = portal.asset_path(AssetKind.DATASET, resolved.dataset.version_id)
        if root is not None and not portal.exists(spec.cluster, posixpath.join(root, ds.file)):
            diags.append(
                _at(
                    spec,
                    ("dataset", "file"),
                    "portal-missing",
                    f"dataset.file `{ds.file}` is not in the dataset version's folder `{root}` on the portal",
                )
            )
    hours = portal.max_running_hours(spec.cluster)
    if hours is not None and spec.resources.max_time_minutes > hours * 60:
        diags.append(
            _at(
                spec,
                ("resources", "max_time"),
                "portal-max-time",
                f"max_time is {spec.resources.max_time_minutes} min; cluster `{spec.cluster}` allows at most "
                f"{hours} h for training jobs",
            )
        )
    return diags
