"""Facts only the portal knows: asset version ids and the partition's shape.

`resolve` is pure: it reads a Catalog (the portal client, a fixture, or nothing when offline) and
returns the facts or located diagnostics.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Protocol

from scowspec.diagnostics import Diagnostic, JsonPath, Severity
from scowspec.errors import ForbiddenError, NotFoundError
from scowspec.model.spec import AssetRef, FineTuneSpec, PortalImage, RefKind, Scope
from scowspec.portal.profile import Profile


class AssetKind(enum.Enum):
    MODEL = "model"
    DATASET = "dataset"


@dataclass(frozen=True)
class Partition:
    name: str
    mem_mb: int
    cores: int
    gpus: int
    qos: tuple[str, ...] = ()
    gpu_type: str | None = None
    max_accelerators_per_pod: int | None = None


class Catalog(Protocol):
    """What resolution asks the portal. Raises NotFoundError for names that do not exist."""

    def version_id(self, kind: AssetKind, cluster: str, name: str, version: str, scope: Scope) -> int: ...

    def partition(self, cluster: str, account: str, name: str) -> Partition: ...

    def profile(self) -> Profile: ...

    def image_id(self, cluster: str, name: str, tag: str) -> int: ...


@dataclass(frozen=True)
class AssetUse:
    """An asset as the payload sends it: a portal version, or a host path mounted at itself."""

    version_id: int = 0
    private: bool = False
    path: str = ""


@dataclass(frozen=True)
class Resolved:
    model: AssetUse
    dataset: AssetUse
    cpus_per_node: int
    memory_mb: int
    gpu_type: str | None
    qos: str | None
    profile: Profile  # the portal generation the payload is for
    image_id: int | None = None  # `image: {name, tag}` from the portal's list, sent by id


def _where(spec: FineTuneSpec, path: JsonPath, code: str, message: str) -> Diagnostic:
    span = spec.origin.span(path) if spec.origin else None
    return Diagnostic(Severity.ERROR, code, message, spec.file, span, path)


def _asset(
    spec: FineTuneSpec, kind: AssetKind, ref: AssetRef, catalog: Catalog | None
) -> tuple[AssetUse, list[Diagnostic]]:
    private = ref.scope is Scope.MINE
    if ref.kind is RefKind.PATH:
        return AssetUse(path=ref.path), []
    if ref.kind is RefKind.VERSION_ID:
        return AssetUse(version_id=ref.version_id, private=private), []
    if catalog is None:
        return AssetUse(), [
            _where(
                spec,
                (kind.value, "name"),
                "needs-portal",
                f"{kind.value} `{ref.name}` is a portal name: resolving it needs the portal "
                f"(or give `{kind.value}.version_id`)",
            )
        ]
    try:
        return AssetUse(
            version_id=catalog.version_id(kind, spec.cluster, ref.name, ref.version, ref.scope), private=private
        ), []
    except (NotFoundError, ForbiddenError) as exc:  # 403: the portal says this user may not use it
        return AssetUse(), [_where(spec, (kind.value, "name"), "not-found", exc.message)]


def shares(part: Partition, gpus: int, nodes: int, cpus: int | None, memory: int | None) -> tuple[int, int]:
    """Cores per node and memory (MB, all nodes) left out of a spec: the portal form's own arithmetic
    (LaunchTrainForm), per-GPU shares on GPU queues."""
    if part.gpus > 0 and gpus > 0:
        cpus = cpus if cpus is not None else round(part.cores / part.gpus * gpus)
        memory = memory if memory is not None else round(part.mem_mb / part.gpus * gpus * nodes)
    else:
        cpus = cpus if cpus is not None else 1
        memory = memory if memory is not None else round(part.mem_mb / part.cores * cpus * nodes)
    return cpus, memory


def resolve(spec: FineTuneSpec, catalog: Catalog | None, offline: Profile) -> tuple[Resolved | None, list[Diagnostic]]:
    """Version ids, cores, memory, gpu type and QOS for `spec`; diagnostics when they can't be had.

    `offline` is the generation assumed without a portal (scowspec.yaml's `portal_version`, else main).
    """
    model, d1 = _asset(spec, AssetKind.MODEL, spec.model, catalog)
    dataset, d2 = _asset(spec, AssetKind.DATASET, spec.dataset.ref, catalog)
    diags = d1 + d2
    image_id: int | None = None
    if isinstance(spec.image, PortalImage):
        if catalog is None:
            diags.append(
                _where(
                    spec,
                    ("image",),
                    "needs-portal",
                    f"image {spec.image} is a portal name: resolving it needs the portal",
                )
            )
        else:
            try:
                image_id = catalog.image_id(spec.cluster, spec.image.name, spec.image.tag)
            except (NotFoundError, ForbiddenError) as exc:
                diags.append(_where(spec, ("image",), "not-found", exc.message))
    res = spec.resources
    need_partition = res.cpus_per_node is None or res.memory_mb is None or (res.gpus_per_node > 0 and not res.gpu_type)
    part: Partition | None = None
    if catalog is not None:
        try:
            part = catalog.partition(spec.cluster, spec.account, spec.partition)
        except NotFoundError as exc:
            diags.append(_where(spec, ("partition",), "not-found", exc.message))
        except ForbiddenError as exc:
            diags.append(_where(spec, ("account",), "portal-account", exc.message))
    elif need_partition:
        missing = [f for f, v in (("cpus_per_node", res.cpus_per_node), ("memory_mb", res.memory_mb)) if v is None]
        if res.gpus_per_node > 0 and not res.gpu_type:
            missing.append("gpu_type")
        diags.append(
            _where(
                spec,
                ("resources",),
                "needs-portal",
                f"resources.{', resources.'.join(missing)} left out: deriving them from partition `{spec.partition}` "
                "needs the portal (or set them in the spec)",
            )
        )
    if diags:
        return None, diags
    cpus, memory, gpu_type, qos = res.cpus_per_node, res.memory_mb, res.gpu_type, spec.qos
    if part is not None:
        if part.max_accelerators_per_pod is not None and res.gpus_per_node > part.max_accelerators_per_pod:
            diags.append(
                _where(
                    spec,
                    ("resources", "gpus_per_node"),
                    "partition",
                    f"partition `{part.name}` allows at most {part.max_accelerators_per_pod} GPUs per node",
                )
            )
        if res.gpus_per_node > 0 and part.gpus == 0:
            diags.append(
                _where(spec, ("resources", "gpus_per_node"), "partition", f"partition `{part.name}` has no GPUs")
            )
        if qos is not None and part.qos and qos not in part.qos:
            diags.append(
                _where(
                    spec,
                    ("qos",),
                    "partition",
                    f"QOS `{qos}` is not one of partition `{part.name}`'s: {', '.join(part.qos)}",
                )
            )
        if diags:
            return None, diags
        cpus, memory = shares(part, res.gpus_per_node, res.nodes, cpus, memory)
        gpu_type = gpu_type or part.gpu_type
        qos = qos or (part.qos[0] if part.qos else None)
    if res.gpus_per_node > 0 and not gpu_type:
        diags.append(
            _where(
                spec,
                ("resources",),
                "gpu-type",
                "the job asks for GPUs but neither the spec nor the partition names a gpu_type",
            )
        )
    if cpus is None or memory is None or diags:
        return None, diags
    profile = catalog.profile() if catalog is not None else offline
    return Resolved(model, dataset, cpus, memory, gpu_type, qos, profile, image_id), []
