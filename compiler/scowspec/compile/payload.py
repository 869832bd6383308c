"""FineTuneSpec + Resolved → the JSON body of `POST {portal}/api/jobs` (SCOW generation B)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from scowspec.compile.command import build_command
from scowspec.compile.lfconfig import Default, chosen_defaults, env_defaults
from scowspec.compile.resolve import AssetUse, Resolved
from scowspec.model.spec import FineTuneSpec


@dataclass(frozen=True)
class CompiledJob:
    """One spec compiled: the payload to submit and the defaults scowspec chose for it."""

    spec: FineTuneSpec
    payload: dict[str, Any]
    defaults: tuple[Default, ...]

    @property
    def job_name(self) -> str:
        return self.spec.job_name


def _ids(use: AssetUse) -> list[dict[str, Any]] | None:
    return None if use.path else [{"id": use.version_id, "isPrivate": use.private}]


def compile_spec(spec: FineTuneSpec, facts: Resolved) -> CompiledJob:
    """The exact payload. Optional fields are left out, never null; same input, same bytes."""
    res = spec.resources
    mounts: list[dict[str, str]] = [{"path": u.path, "target": u.path} for u in (facts.model, facts.dataset) if u.path]
    mounts += [{"path": m.path, "target": m.target} for m in spec.mounts]
    # 0.5.4 mounts only its own job folder: without this, everything under WORK_DIR dies with the pod.
    mounts += facts.profile.work_dir_mounts(spec.work_dir)
    if spec.tensorboard_dir:
        # The portal's TensorBoard reads this folder, but the training container does not get it by itself.
        mounts.append({"path": spec.tensorboard_dir, "target": spec.tensorboard_dir})
    env = [{"key": "WORK_DIR", "value": spec.work_dir}] + [{"key": k, "value": spec.env[k]} for k in sorted(spec.env)]
    body: dict[str, Any] = {
        "clusterId": spec.cluster,
        "trainJobName": spec.job_name,
        "remoteImageUrl": spec.image if isinstance(spec.image, str) else None,
        "image": facts.image_id,
        "framework": "pytorch" if spec.distributed else None,
        "nodeCount": res.nodes,
        "gpuCount": res.gpus_per_node if res.gpus_per_node > 0 else None,
        "coreCount": facts.cpus_per_node,
        "memory": facts.memory_mb,
        "maxTime": res.max_time_minutes,
        "gpuType": facts.gpu_type if res.gpus_per_node > 0 else None,
        "account": spec.account,
        "partition": spec.partition,
        "qos": facts.qos,
        "models": _ids(facts.model),
        "datasets": _ids(facts.dataset),
        "mountPoints": mounts or None,
        "envVariables": env,
        "tensorBoardDataPath": spec.tensorboard_dir,
        "command": build_command(spec),
    }
    defaults = chosen_defaults(spec) + env_defaults(spec)
    return CompiledJob(spec, {k: v for k, v in body.items() if v is not None}, defaults)
