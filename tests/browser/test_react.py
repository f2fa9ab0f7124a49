"""The React example (embed_examples/react/ConversationWidget.jsx), bundled with esbuild and run in Chromium.

The test writes a small entry into its temp dir that renders the component inside <StrictMode> (React's
development build, so effects mount, unmount and mount again), bundles it with the esbuild from
package.json's devDependencies (``npm ci`` installs it), and serves the bundle on the host origin.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import BrowserContext, Page

from tests.browser.conftest import EXAMPLES, ROOT, Host, WidgetServer, events, frame_of, wait_event

pytestmark = pytest.mark.browser

ESBUILD = ROOT / "node_modules" / ".bin" / "esbuild"

ENTRY = """
import {StrictMode} from 'react';
import {createRoot} from 'react-dom/client';
import {ConversationWidget} from %(component)s;

window.__react = [];
const root = createRoot(document.getElementById('app'));
root.render(
  <StrictMode>
    <ConversationWidget server={%(server)s} widget="support" inline={%(inline)s}
                        onEvent={(name, e) => window.__react.push({name, ...e})} />
  </StrictMode>
);
window.__unmount = () => root.unmount();
"""


def bundle(tmp_path: Path, server: str, inline: bool) -> Path:
    if not ESBUILD.exists():
        pytest.fail("esbuild is not installed: run `npm ci` (make install)")
    entry = tmp_path / "entry.jsx"
    component = EXAMPLES / "react" / "ConversationWidget.jsx"
    entry.write_text(ENTRY % {"component": json.dumps(str(component)), "server": json.dumps(server),
                                  "inline": json.dumps(inline)})
    out = tmp_path / "bundle.js"
    subprocess.run(
        [str(ESBUILD), str(entry), "--bundle", "--format=esm", "--jsx=automatic", f"--outfile={out}",
         "--define:process.env.NODE_ENV=\"development\"", "--log-level=warning"],
        # The entry lives outside the repository: it finds react the way the component does.
        env={**os.environ, "NODE_PATH": str(ROOT / "node_modules")},
        check=True, capture_output=True, timeout=60,
    )
    return out


def react_events(page: Page) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = page.evaluate("window.__react")
    return result


@pytest.mark.parametrize("inline", [True, False], ids=["inline", "launcher"])
def test_react_example(ctx: BrowserContext, open_page: Callable[..., Page], host: Host,
                       widget_server: WidgetServer, tmp_path: Path, inline: bool) -> None:
    js = bundle(tmp_path, widget_server.url, inline)
    # Served on the host origin (the page's CSP allows 'self' scripts), from the test's temp dir.
    bundle_url = f"{host.url}/react/bundle.js"
    ctx.route(bundle_url, lambda route: route.fulfill(path=js, content_type="text/javascript"))
    page = open_page(host.page("react", f'<div id="app"></div><script type="module" src="{bundle_url}"></script>'))

    wait_event(page, "ready", widget="support")
    # StrictMode mounted the component twice: still one loader, one widget, one iframe.
    assert page.locator(f'script[src="{widget_server.url}/embed.js"]').count() == 1
    assert page.locator("[data-cvi-widget]").count() == 1
    if inline:  # inside the component's <div>
        assert page.locator("#app > #cvi-support > [data-cvi-widget=support]").count() == 1
    frame_of(page)
    assert sum(f.url.split("?")[0].endswith("/w/support") for f in page.frames) == 1

    page.evaluate("cvi('start')")
    cid = wait_event(page, "conversation.started")["conversation_id"]
    page.wait_for_function("() => window.__react.some((e) => e.name === 'conversation.started')")
    assert [e["conversation_id"] for e in react_events(page) if e["name"] == "conversation.started"] == [cid]

    page.evaluate("window.__unmount()")
    record = widget_server.wait_ended(cid)
    assert record["status"] == "ended", record
    if inline:
        # The iframe went with the component's <div>: the widget page ended the call as it unloaded.
        assert record["end_reason"] == "visitor_page_hidden", record
    else:
        # The component's cvi('destroy') ended it as cvi('end') does, and onEvent heard the end after the
        # component was gone.
        assert record["end_reason"] == "visitor_ended", record
        page.wait_for_function("() => window.__react.some((e) => e.name === 'conversation.ended')")
        ended = [e for e in react_events(page) if e["name"] == "conversation.ended"]
        assert [(e["conversation_id"], e["reason"]) for e in ended] == [(cid, "visitor_ended")]
    # Nothing of the widget remains: no host element, so no launcher bubble and no iframe.
    page.wait_for_function("() => !document.querySelector('[data-cvi-widget]')", timeout=3000)
    assert page.locator("[data-cvi-widget] .bubble").count() == 0

    # The listeners are gone: a widget declared again works, and its conversation is not reported to the
    # unmounted component.
    count = len(react_events(page))
    page.evaluate("cvi('init', {widget: 'support'}); cvi('start')")
    page.wait_for_function(f"() => window.__events.some((e) => e.event === 'conversation.started' "
                           f"&& e.conversation_id !== {json.dumps(cid)})")
    again = [e["conversation_id"] for e in events(page) if e["event"] == "conversation.started"][-1]
    assert len(react_events(page)) == count
    page.evaluate("cvi('destroy')")
    assert widget_server.wait_ended(again)["status"] == "ended"
