"""`GET /api/openapi.json`: the part of the portal's OpenAPI document that tells the generations apart.

trpc-to-openapi generates it from the zod schemas; main (013d0859+) added `target` to `IdPrivateSchema`.
"""

from __future__ import annotations

from typing import Any

from scowspec.portal.profile import OPENAPI_TITLE, Profile


def document(profile: Profile) -> dict[str, Any]:
    id_private: dict[str, Any] = {"id": {"type": "number"}, "isPrivate": {"type": "boolean"}}
    if profile.asset_target:
        id_private["target"] = {"type": "string"}
    refs = {"type": "array", "items": {"$ref": "#/components/schemas/IdPrivate"}}
    return {
        "openapi": "3.0.3",
        "info": {"title": OPENAPI_TITLE, "version": "0.5.4" if profile.name == "0.5.4" else "0.6.0-main"},
        "paths": {
            "/jobs": {
                "post": {
                    "requestBody": {
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "properties": {
                                        "datasets": refs,
                                        "models": refs,
                                        "trainJobName": {"type": "string"},
                                    },
                                }
                            }
                        }
                    }
                }
            }
        },
        "components": {"schemas": {"IdPrivate": {"type": "object", "properties": id_private}}},
    }
