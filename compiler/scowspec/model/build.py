"""Effective spec data (already valid) → FineTuneSpec."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from scowspec.load.document import Document
from scowspec.model.effective import minutes
from scowspec.model.serving import build_register, build_serve
from scowspec.model.spec import (
    AssetRef,
    DatasetSpec,
    FineTuneSpec,
    Mount,
    PortalImage,
    RefKind,
    Resources,
    Scope,
    frozen,
)
from scowspec.model.verify import build_verify


def asset_ref(data: Mapping[str, Any]) -> AssetRef:
    scope = Scope(data.get("scope", "public"))
    if "path" in data:
        return AssetRef(RefKind.PATH, path=data["path"])
    if "version_id" in data:
        return AssetRef(RefKind.VERSION_ID, version_id=data["version_id"], scope=scope)
    return AssetRef(RefKind.NAME, name=data["name"], version=data.get("version", ""), scope=scope)


def build(file: str, eff: Mapping[str, Any], origin: Document | None = None, project: str = "") -> FineTuneSpec:
    """A FineTuneSpec from effective data that passed validation."""
    res = eff["resources"]
    ds = eff["dataset"]
    return FineTuneSpec(
        file=file,
        name=eff["name"],
        cluster=eff["cluster"],
        account=eff["account"],
        partition=eff["partition"],
        qos=eff.get("qos"),
        image=PortalImage(eff["image"]["name"], eff["image"]["tag"])
        if isinstance(eff["image"], Mapping)
        else eff["image"],
        work_dir=eff["work_dir"].rstrip("/") or "/",
        model=asset_ref(eff["model"]),
        dataset=DatasetSpec(
            ref=asset_ref(ds),
            file=ds.get("file", ""),
            formatting=ds.get("formatting", "alpaca"),
            columns=frozen(ds.get("columns", {})),
            tags=frozen(ds.get("tags", {})),
            ranking=bool(ds.get("ranking", False)),
            placeholders=frozen(ds.get("placeholders", {})),
        ),
        resources=Resources(
            nodes=res["nodes"],
            gpus_per_node=res["gpus_per_node"],
            max_time_minutes=minutes(res["max_time"]),
            cpus_per_node=res.get("cpus_per_node"),
            memory_mb=res.get("memory_mb"),
            gpu_type=res.get("gpu_type"),
        ),
        train=frozen(eff["train"]),
        export=frozen(eff["export"]) if eff.get("export") is not None else None,
        tensorboard_dir=(eff.get("tensorboard") or {}).get("log_dir"),
        mounts=tuple(Mount(m["path"], m["target"]) for m in eff.get("mounts", [])),
        env=frozen(eff.get("env", {})),
        verify=build_verify(eff["verify"], ds.get("placeholders", {})) if eff.get("verify") is not None else None,
        register=build_register(eff.get("register"), eff["name"]),
        serve=build_serve(eff.get("serve"), eff["name"], eff["partition"]),
        effective=frozen(eff),
        origin=origin,
        project=project,
    )
