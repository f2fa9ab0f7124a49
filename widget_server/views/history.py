"""For operators' back ends (server key): what the history database kept of a conversation."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from widget_server.clock import iso
from widget_server.errors import Problem
from widget_server.responses import JSONAnswer
from widget_server.views.common import ctx, require_server_key


async def transcript(request: Request) -> Response:
    """The transcript kept from the engine's callback, else from its verbose record after the end."""
    c = ctx(request)
    require_server_key(request, c.settings.server.server_keys)
    cid = request.path_params["conversation_id"]
    try:
        past = await c.history.conversation(conversation_id=cid)
        kept = None if past is None else await c.history.transcript(past.local_id)
    except Exception as exc:  # the history database is down: say so, not 500
        raise Problem(503, "History unavailable", "the history database cannot be reached now",
                      kind="history-unavailable", retry_after=30) from exc
    if past is None:
        raise Problem(404, "Unknown conversation", "no conversation with this id", kind="not-found")
    if kept is None:
        detail = {"": "not received yet", "none": "the engine kept none",
                  "purged": "removed after retention.transcripts_days"}.get(past.transcript, "not kept")
        raise Problem(404, "No transcript", detail, kind="no-transcript")
    return JSONAnswer({"conversation_id": cid, "widget": past.widget, "source": kept.source,
                       "received_at": iso(kept.received_at), "transcript": kept.entries}, no_store=True)
