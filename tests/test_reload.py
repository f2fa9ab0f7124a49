"""A reload (SIGHUP, the console's settings) reaches every part that keeps the settings or the signer."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import pytest

from widget_server.reload import apply_settings
from widget_server.settings import Settings

pytestmark = pytest.mark.anyio


def _holders(root: object) -> list[tuple[str, object]]:
    """Every part reachable from the app's context, one attribute deep, with where it was found."""
    found: list[tuple[str, object]] = []
    for f in dataclasses.fields(root):  # type: ignore[arg-type]
        part = getattr(root, f.name)
        found.append((f.name, part))
        for name, value in vars(part).items() if hasattr(part, "__dict__") else ():
            found.append((f"{f.name}.{name}", value))
    return found


async def test_a_reload_reaches_every_part_that_keeps_settings_or_the_signer(
        client_for: Callable[..., Any], make_settings: Callable[..., Settings]) -> None:
    client = await client_for(make_settings())
    old = client.app.ctx
    new = make_settings({"server": {"secret_key": "r" * 40}})  # a new key: the old one no longer signs
    apply_settings(client.app, new)
    ctx = client.app.ctx
    assert ctx.settings is new and ctx.signer is not old.signer
    stale = [where for where, part in _holders(ctx)
             if (getattr(part, "settings", None) is old.settings) or (getattr(part, "signer", None) is old.signer)]
    assert stale == []
    # A place in line handed out after the reload is one the views accept.
    ticket = ctx.line.signer.queue_ticket("support", "q_1")
    ctx.signer.check_queue_ticket(ticket, "support", "q_1", max_age=60)
