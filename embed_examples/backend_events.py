"""Follow a conversation's events and steer it from your back end.

    pip install httpx
    WIDGET_SERVER=http://127.0.0.1:8000 WIDGET_SERVER_KEY=sk_... python backend_events.py c123

Prints every event; when the replica calls the ``open_page`` tool, tells it (through
``append_llm_context``) that the page is now open. Reconnects with ``Last-Event-ID``
so nothing is missed, and stops after the ``ended`` event.
"""

from __future__ import annotations

import json
import os
import sys
import time

import httpx

BASE = os.environ.get("WIDGET_SERVER", "http://127.0.0.1:8000")
KEY = os.environ["WIDGET_SERVER_KEY"]
AUTH = {"Authorization": f"Bearer {KEY}"}


def interact(http: httpx.Client, cid: str, event_type: str, **properties: str) -> None:
    r = http.post(f"/api/conversations/{cid}/interactions", headers=AUTH,
                  json={"event_type": event_type, "properties": properties})
    if r.status_code != 202:
        print("interaction refused:", r.status_code, r.text, file=sys.stderr)


def on_event(http: httpx.Client, cid: str, event: dict) -> None:
    kind, data = event["type"], event["data"]
    print(f"#{event['seq']} {kind}: {json.dumps(data)}")
    if kind == "tool_call" and data.get("name") == "open_page":
        page = (data.get("arguments") or {}).get("page", "?")
        interact(http, cid, "conversation.append_llm_context",
                 context=f"The visitor now sees the {page} page.")


def follow(cid: str) -> None:
    last = 0
    with httpx.Client(base_url=BASE, timeout=httpx.Timeout(10, read=60)) as http:
        while True:
            try:
                headers = {**AUTH, "Accept": "text/event-stream", "Last-Event-ID": str(last)}
                with http.stream("GET", f"/api/conversations/{cid}/events", headers=headers) as r:
                    r.raise_for_status()
                    for line in r.iter_lines():
                        if not line.startswith("data: "):
                            continue
                        event = json.loads(line[6:])
                        last = event["seq"]
                        on_event(http, cid, event)
                        if event["type"] == "ended":
                            return
            except httpx.HTTPStatusError as exc:
                print("refused:", exc.response.status_code, exc.response.text, file=sys.stderr)
                return
            except httpx.TransportError as exc:
                print(f"disconnected ({exc!r}); resuming after #{last}", file=sys.stderr)
                time.sleep(1)


if __name__ == "__main__":
    follow(sys.argv[1])
