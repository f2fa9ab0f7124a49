"""The sandbox engine: a local, faithful stand-in for the upstream engine and its rooms."""

from __future__ import annotations

from .core import SandboxCore
from .engine import SandboxEngine
from .rooms import room_routes
from .service import create_sandbox_app

__all__ = ["SandboxCore", "SandboxEngine", "create_sandbox_app", "room_routes"]
