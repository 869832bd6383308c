"""What differs between the SCOW-AI portal generations scowspec supports, in one place.

The client, the compiler and the sandbox all read a `Profile`; nothing else asks "which version?".
Facts are from PKUHPC/SCOW's source (`../shared/reference/scow-ai-real-portal.md`):

- **0.5.4** (`@scow/ai` 0.5.4, apps/ai @ 00d1161e): `WORK_DIR` is only an environment variable. The container's
  working directory, and its only work volume, is the portal's own job folder `~/scow/ai/appData/<session>`;
  anything written elsewhere lives in the container's own file system and is lost with the pod. Paths are checked
  only for "mountPoint should be in homeDir"; the time limit is the global `maxJobRunningTimeHours`.
- **main** (013d0859 and later, newest read c2f0c1cc/211a4375): `WORK_DIR` is required, validated as a
  home-scoped path, and becomes the container's working directory and a volume; every host path is home-scoped;
  the time limit is per cluster; a `remoteImageUrl` on the platform's Harbor is refused; asset refs may carry a
  `target` (this is how a probe tells the two apart: `IdPrivate.target` in the OpenAPI document).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


class Generation(enum.Enum):
    RELEASE_0_5_4 = "0.5.4"
    MAIN = "main"


@dataclass(frozen=True)
class Profile:
    generation: Generation
    # The portal mounts WORK_DIR as the container's working directory (main). Where it does not (0.5.4),
    # scowspec mounts work_dir itself, at the same path, so outputs land on storage that outlives the pod.
    work_dir_is_mounted: bool
    # Submits without WORK_DIR are refused with 400 "WORK_DIR is required".
    work_dir_required: bool
    # WORK_DIR, mount paths and tensorBoardDataPath pass `validateHomeScopedPath` (safe characters, no `.`/`..`).
    strict_home_paths: bool
    # `remoteImageUrl` on the platform's own Harbor is refused (`validateRemoteImageUrl`); send `image: <id>`.
    refuses_harbor_remote_image: bool
    # Asset refs (`models`/`datasets` items) accept `target`.
    asset_target: bool
    # Where the train time limit is read: main `GET /config/scowCluster` → {cluster: {ai: {train:
    # {maxRunningTimeHours}}}} per cluster; 0.5.4 `GET /config` → MAX_JOB_RUNNING_TIME_HOURS, global.
    max_time_per_cluster: bool

    @property
    def name(self) -> str:
        return self.generation.value

    def work_dir_mounts(self, work_dir: str) -> list[dict[str, str]]:
        """Mount points scowspec must add so that `work_dir` outlives the container."""
        return [] if self.work_dir_is_mounted else [{"path": work_dir, "target": work_dir}]


PROFILES: Mapping[Generation, Profile] = {
    Generation.RELEASE_0_5_4: Profile(
        Generation.RELEASE_0_5_4,
        work_dir_is_mounted=False,
        work_dir_required=False,
        strict_home_paths=False,
        refuses_harbor_remote_image=False,
        asset_target=False,
        max_time_per_cluster=False,
    ),
    Generation.MAIN: Profile(
        Generation.MAIN,
        work_dir_is_mounted=True,
        work_dir_required=True,
        strict_home_paths=True,
        refuses_harbor_remote_image=True,
        asset_target=True,
        max_time_per_cluster=True,
    ),
}

# What `compile --offline` assumes when scowspec.yaml names no `portal_version`: the newer contract, whose
# payload is also what 0.5.4 needs minus one mount (see Profile.work_dir_mounts).
DEFAULT_GENERATION = Generation.MAIN
OPENAPI_TITLE = "SCOW AI API"


def profile_of(generation: Generation) -> Profile:
    return PROFILES[generation]


def parse_generation(value: str) -> Generation | None:
    """`portal_version` from scowspec.yaml: "0.5.4", "main", or "auto" (None: probe the portal)."""
    if value == "auto":
        return None
    return Generation(value)


def _deref(doc: Mapping[str, Any], node: Any) -> Any:
    for _ in range(32):  # a $ref chain, never a cycle we follow forever
        if not isinstance(node, Mapping) or "$ref" not in node:
            return node
        ref = str(node["$ref"])
        if not ref.startswith("#/"):
            return {}
        target: Any = doc
        for part in ref[2:].split("/"):
            target = target.get(part, {}) if isinstance(target, Mapping) else {}
        node = target
    return {}


def generation_from_openapi(doc: Any) -> Generation | None:
    """The generation an OpenAPI document describes, or None when it is not SCOW-AI's.

    main (013d0859+) added `target` to `IdPrivateSchema`, the item schema of `POST /jobs`'s `datasets`.
    """
    if not isinstance(doc, Mapping) or not isinstance(doc.get("info"), Mapping):
        return None
    if doc["info"].get("title") != OPENAPI_TITLE:
        return None
    paths = doc.get("paths")
    post = paths.get("/jobs", {}).get("post", {}) if isinstance(paths, Mapping) else {}
    body = _deref(doc, post.get("requestBody", {}) if isinstance(post, Mapping) else {})
    content = body.get("content", {}) if isinstance(body, Mapping) else {}
    schema = _deref(doc, content.get("application/json", {}).get("schema", {}) if isinstance(content, Mapping) else {})
    props = schema.get("properties", {}) if isinstance(schema, Mapping) else {}
    datasets = _deref(doc, props.get("datasets", {}) if isinstance(props, Mapping) else {})
    items = _deref(doc, datasets.get("items", {}) if isinstance(datasets, Mapping) else {})
    item_props = items.get("properties", {}) if isinstance(items, Mapping) else {}
    if not isinstance(item_props, Mapping) or "id" not in item_props:
        return None
    return Generation.MAIN if "target" in item_props else Generation.RELEASE_0_5_4


def generation_from_cluster_config(doc: Any) -> Generation | None:
    """The generation `GET /api/config/scowCluster` shows, for portals that serve no OpenAPI document.

    main publishes `ai.train` (its per-cluster time limit) for every AI cluster; 0.5.4's entries carry only
    `ai.devHost` and `ai.clusterPublicPath`. None when the answer is not that route's.
    """
    if not isinstance(doc, Mapping) or not doc:
        return None
    ai = [c["ai"] for c in doc.values() if isinstance(c, Mapping) and isinstance(c.get("ai"), Mapping)]
    if not ai:
        return None
    return Generation.MAIN if any("train" in a for a in ai) else Generation.RELEASE_0_5_4
