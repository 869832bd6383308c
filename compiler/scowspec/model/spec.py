"""Typed view of a valid spec (after project defaults were merged in)."""

from __future__ import annotations

import enum
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from types import MappingProxyType
from typing import Any

from scowspec.load.document import Document
from scowspec.model.serving import AFTER_JOB_KEYS, RegisterSpec, ServeSpec
from scowspec.model.verify import VerifySpec

# Bumped only when the meaning of a spec changes; NOT with scowspec's version, so that upgrading
# scowspec never renames (and so never replaces) anyone's running job.
DIGEST_SCHEME = "scowspec-digest/1"


class Scope(enum.Enum):
    PUBLIC = "public"
    MINE = "mine"


class RefKind(enum.Enum):
    NAME = "name"
    VERSION_ID = "version_id"
    PATH = "path"


@dataclass(frozen=True)
class AssetRef:
    """A model or dataset: by portal name, by portal version id, or by host path."""

    kind: RefKind
    name: str = ""
    version: str = ""
    version_id: int = 0
    scope: Scope = Scope.PUBLIC
    path: str = ""


@dataclass(frozen=True)
class DatasetSpec:
    ref: AssetRef
    file: str = ""
    formatting: str = "alpaca"
    columns: Mapping[str, str] = field(default_factory=dict)
    tags: Mapping[str, str] = field(default_factory=dict)
    ranking: bool = False
    placeholders: Mapping[str, str] = field(default_factory=dict)

    @property
    def key(self) -> str:
        """Name of the entry in the generated dataset_info.json."""
        return self.ref.name or "scowspec_dataset"


@dataclass(frozen=True)
class Resources:
    nodes: int
    gpus_per_node: int
    max_time_minutes: int
    cpus_per_node: int | None = None
    memory_mb: int | None = None
    gpu_type: str | None = None

    @property
    def gpu_hours(self) -> float:
        """What the job may use at most: nodes × GPUs × time limit."""
        return self.nodes * self.gpus_per_node * self.max_time_minutes / 60


@dataclass(frozen=True)
class Mount:
    path: str
    target: str


@dataclass(frozen=True)
class PortalImage:
    """An image from the portal's own list (its Harbor), sent by id rather than as a remote address."""

    name: str
    tag: str

    def __str__(self) -> str:
        return f"{self.name}:{self.tag} (the portal's image list)"


@dataclass(frozen=True)
class FineTuneSpec:
    """One job's intent. `effective` is the merged spec data the digest is computed from."""

    file: str
    name: str
    cluster: str
    account: str
    partition: str
    image: str | PortalImage
    work_dir: str
    model: AssetRef
    dataset: DatasetSpec
    resources: Resources
    train: Mapping[str, Any]
    effective: Mapping[str, Any]
    qos: str | None = None
    export: Mapping[str, Any] | None = None
    tensorboard_dir: str | None = None
    mounts: tuple[Mount, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    verify: VerifySpec | None = None
    register: RegisterSpec | None = None
    serve: ServeSpec | None = None
    origin: Document | None = field(default=None, compare=False, repr=False)
    # scowspec.yaml's `project`: which repository the job belongs to. Not part of the digest, so giving a
    # project its id (or adopting its older jobs) renames no job.
    project: str = ""

    @cached_property
    def digest(self) -> str:
        return spec_digest(self.effective)

    @property
    def job_name(self) -> str:
        return f"{self.name}-{self.digest}"

    @property
    def distributed(self) -> bool:
        return self.resources.nodes > 1

    @property
    def finetuning_type(self) -> str:
        return str(self.train.get("finetuning_type", "lora"))


def spec_digest(effective: Mapping[str, Any]) -> str:
    """8 hex digits over the effective spec: what the job will do, not how scowspec writes it."""
    # `register:` and `serve:` act after the job: adding one must not rename (and so rerun) a finished job.
    body = {k: v for k, v in effective.items() if k not in ("apiVersion", "kind", *AFTER_JOB_KEYS)}
    canon = json.dumps(
        {"scheme": DIGEST_SCHEME, "spec": body}, sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )
    return hashlib.sha256(canon.encode("utf-8")).hexdigest()[:8]


def frozen(mapping: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(dict(mapping))
