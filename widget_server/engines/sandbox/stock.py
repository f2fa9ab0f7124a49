"""The sandbox's stock PALs (personas) and Faces (replicas), for the read endpoints the official clients call.

    GET /v2/pals   GET /v2/personas   GET /v2/faces   GET /v2/replicas   (and /{id} of each)

Each entry carries the new name and the old one (``pal_id`` and ``persona_id``), as the
reference now lists them side by side.
"""

from __future__ import annotations

from typing import Any

CREATED = "2026-01-01T00:00:00.000Z"

PALS: list[dict[str, Any]] = [
    {"persona_id": "p_sandbox_demo", "persona_name": "Sandbox support", "default_replica_id": "r_sandbox_demo",
     "system_prompt": "You are a friendly support assistant.", "context": "", "created_at": CREATED},
    {"persona_id": "p_sandbox_sales", "persona_name": "Sandbox sales", "default_replica_id": "r_sandbox_sales",
     "system_prompt": "You help visitors choose a plan.", "context": "", "created_at": CREATED},
]
FACES: list[dict[str, Any]] = [
    {"replica_id": "r_sandbox_demo", "replica_name": "Sandbox Anna", "status": "completed",
     "replica_type": "system", "created_at": CREATED},
    {"replica_id": "r_sandbox_sales", "replica_name": "Sandbox Ben", "status": "completed",
     "replica_type": "system", "created_at": CREATED},
]


def pal(entry: dict[str, Any]) -> dict[str, Any]:
    return {**entry, "pal_id": entry["persona_id"], "pal_name": entry["persona_name"],
            "default_face_id": entry["default_replica_id"]}


def face(entry: dict[str, Any]) -> dict[str, Any]:
    return {**entry, "face_id": entry["replica_id"], "face_name": entry["replica_name"]}


# collection -> (entries as answered, the id key)
COLLECTIONS: dict[str, tuple[list[dict[str, Any]], str]] = {
    "pals": ([pal(p) for p in PALS], "persona_id"),
    "personas": ([pal(p) for p in PALS], "persona_id"),
    "faces": ([face(f) for f in FACES], "replica_id"),
    "replicas": ([face(f) for f in FACES], "replica_id"),
}
