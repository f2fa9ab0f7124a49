"""Every error answer: one exception family for bad requests, one for engine failures, their handlers.

    raise Problem(422, "Invalid body", errors=[FieldError("language", "must be a string")])
    raise EngineError("timeout", "no answer in 20 s")       # from an engine; views let it pass

both become ``application/problem+json`` answers (RFC 9457): a :class:`Problem` as it is, an
:class:`EngineError` as 502/503/504 through :func:`engine_problem` with every secret redacted.
``HANDLERS`` is what ``create_app`` registers; anything else is a logged 500 without a trace.
"""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException, WebSocketException
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket

from widget_server.responses import JSONAnswer

log = logging.getLogger("widget_server")

PROBLEM_BASE = "https://widget-server.dev/problems/"


@dataclass(frozen=True)
class FieldError:
    field: str
    message: str


class Problem(Exception):
    """A request the server refuses; rendered as problem+json."""

    def __init__(
        self,
        status: int,
        title: str,
        detail: str = "",
        *,
        kind: str | None = None,
        errors: list[FieldError] | None = None,
        retry_after: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail or title)
        self.status = status
        self.title = title
        self.detail = detail or title
        self.kind = kind or _default_kind(status)
        self.errors = errors or []
        self.retry_after = retry_after
        self.headers = dict(headers or {})

    def body(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "type": PROBLEM_BASE + self.kind,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }
        if self.errors:
            doc["errors"] = [{"field": e.field, "message": e.message} for e in self.errors]
        if self.retry_after is not None:
            doc["retry_after"] = self.retry_after
        return doc

    def response(self) -> Response:
        headers = {k: v for k, v in self.headers.items() if k.lower() != "cache-control"}
        if self.retry_after is not None:
            headers["Retry-After"] = str(max(1, int(self.retry_after)))
        return JSONAnswer(self.body(), status_code=self.status, headers=headers, no_store=True,
                          media_type="application/problem+json")


def _default_kind(status: int) -> str:
    return {
        400: "bad-request",
        401: "unauthorized",
        403: "forbidden",
        404: "not-found",
        405: "method-not-allowed",
        409: "conflict",
        413: "body-too-large",
        415: "unsupported-media-type",
        422: "invalid-body",
        429: "rate-limited",
        500: "internal-error",
        502: "engine-error",
        503: "unavailable",
        504: "engine-timeout",
    }.get(status, "error")


def invalid(errors: list[FieldError], title: str = "Invalid request body") -> Problem:
    return Problem(422, title, "; ".join(f"{e.field}: {e.message}" for e in errors), errors=errors)


@dataclass
class EngineError(Exception):
    """The engine failed. ``kind`` decides the status we answer with.

    kinds: ``rejected`` (engine said 4xx to our request) -> 502,
    ``auth`` (engine refused our key) -> 502, ``credits`` -> 502,
    ``concurrency`` -> 503, ``unavailable`` (5xx) -> 502, ``timeout`` -> 504,
    ``connection`` -> 502, ``protocol`` (answer we cannot read) -> 502,
    ``not_found`` -> 404, ``ended`` (the conversation is no longer live) -> 409.
    """

    kind: str
    message: str
    upstream_status: int | None = None
    retry_after: int | None = None

    def __str__(self) -> str:
        return f"engine {self.kind}: {self.message}"


_ENGINE_MAP: dict[str, tuple[int, str, str]] = {
    "rejected": (502, "engine-rejected", "The engine rejected the request"),
    "auth": (502, "engine-auth", "The engine refused the server's credentials"),
    "credits": (502, "engine-credits", "The engine account is out of credits"),
    "concurrency": (503, "engine-concurrency", "The engine's concurrency limit is reached"),
    "unavailable": (502, "engine-unavailable", "The engine failed"),
    "timeout": (504, "engine-timeout", "The engine did not answer in time"),
    "connection": (502, "engine-connection", "The connection to the engine failed"),
    "protocol": (502, "engine-protocol", "The engine gave an answer the server cannot read"),
    "not_found": (404, "not-found", "The engine does not know this conversation"),
    "ended": (409, "conversation-ended", "Conversation ended"),
}


def engine_problem(err: EngineError, secrets: tuple[str, ...] = ()) -> Problem:
    status, kind, title = _ENGINE_MAP.get(err.kind, _ENGINE_MAP["protocol"])
    retry = err.retry_after
    if status == 503 and retry is None:
        retry = 30
    return Problem(status, title, redact(err.message, secrets), kind=kind, retry_after=retry)


def redact(text: str, secrets: tuple[str, ...]) -> str:
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "[redacted]")
    return text[:500]


async def problem_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Problem)
    return exc.response()


async def engine_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, EngineError)
    return engine_problem(exc, request.scope["app"].ctx.settings.secrets()).response()


async def http_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    titles = {404: "Not found", 405: "Method not allowed"}
    return Problem(exc.status_code, titles.get(exc.status_code, "Error"), str(exc.detail)).response()


STORE_RETRY_S = 5


def store_problem() -> Problem:
    return Problem(503, "Store unavailable", "the server's state store does not answer; try again shortly",
                   kind="store-unavailable", retry_after=STORE_RETRY_S)


async def store_error_handler(request: Request, exc: Exception) -> Response:
    """A store that does not answer (registered for ``store.STORE_ERRORS``): 503, one line per outage."""
    request.scope["app"].ctx.health.store_condition.failed(exc)
    return store_problem().response()


async def unexpected_handler(request: Request, exc: Exception) -> Response:
    log.error("unexpected error on %s %s: %s", request.method, request.url.path, type(exc).__name__)
    return Problem(500, "Internal error", "the server failed; the error was logged",
                   kind="internal-error").response()


Handler = Callable[[Request, Exception], Awaitable[Response]]
HANDLERS: dict[type[Exception], Handler] = {
    Problem: problem_handler,
    EngineError: engine_error_handler,
    HTTPException: http_error_handler,
}


# --- Applying the handlers: Starlette's two error layers as one table -----------------------------

SCOPE_KEY = "starlette.exception_handlers"  # where Starlette's routes look for the handlers


async def _plain_http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code in (204, 304):
        return Response(status_code=exc.status_code, headers=exc.headers)
    return PlainTextResponse(exc.detail, status_code=exc.status_code, headers=exc.headers)


async def _close_websocket(websocket: WebSocket, exc: Exception) -> None:
    assert isinstance(exc, WebSocketException)
    await websocket.close(code=exc.code, reason=exc.reason)


def handler_for(scope: Scope, exc: Exception) -> Any:
    """The handler registered for ``exc`` (by status for an ``HTTPException``, else by class), or None."""
    tables: tuple[dict[Any, Any], dict[int, Any]] = scope.get(SCOPE_KEY) or ({}, {})
    by_class, by_status = tables
    if isinstance(exc, HTTPException) and exc.status_code in by_status:
        return by_status[exc.status_code]
    for cls in type(exc).__mro__:
        if cls in by_class:
            return by_class[cls]
    return None


async def _run(handler: Any, request: Request, exc: Exception) -> Response | None:
    """A handler's answer; a plain function runs in the thread pool, as Starlette runs it."""
    inner = handler
    while isinstance(inner, functools.partial):
        inner = inner.func
    if inspect.iscoroutinefunction(inner) or inspect.iscoroutinefunction(type(inner).__call__):
        answer: Response | None = await handler(request, exc)
    else:
        answer = await run_in_threadpool(handler, request, exc)
    return answer


async def handled(request: Request, exc: Exception) -> Response | None:
    """The answer the registered handler gives for ``exc``; ``exc`` raised again when none is registered."""
    handler = handler_for(request.scope, exc)
    if handler is None:
        raise exc
    response = await _run(handler, request, exc)
    exc.__traceback__ = None  # an exception instance raised again would pile up tracebacks
    return response


class ErrorTable:
    """What Starlette's ``ServerErrorMiddleware`` and ``ExceptionMiddleware`` do, as one table the server's
    outermost layer applies (``tracing.py``): two layers fewer on every request.

    ``exception_handlers`` as given to Starlette: a class or a status code to a handler; ``Exception``
    (or 500) is the handler of last resort. ``table`` goes in the scope under ``SCOPE_KEY``, where
    Starlette's routes find it (each route answers its own handled errors, inside any middleware the
    app adds). ``answer`` handles what reaches the outermost layer: a handled error is answered (unless
    ``handled_inside``: then an inner layer answered those, and what gets out is unexpected), anything
    else, a handler that failed too, gets the last resort's answer and is raised again for the server
    to log, as Starlette does. No debug pages.
    """

    def __init__(self, exception_handlers: Mapping[Any, Any], *, handled_inside: bool = False) -> None:
        by_class: dict[Any, Any] = {HTTPException: _plain_http_error, WebSocketException: _close_websocket}
        by_status: dict[int, Any] = {}
        self.last_resort: Any = None
        for key, handler in exception_handlers.items():
            if key in (500, Exception):
                self.last_resort = handler
            elif isinstance(key, int):
                by_status[key] = handler
            else:
                by_class[key] = handler
        self.table = (by_class, by_status)
        self.handled_inside = handled_inside

    async def answer(self, exc: Exception, scope: Scope, receive: Receive, send: Send,
                     *, started: Callable[[], bool]) -> None:
        request = Request(scope, receive, send)
        handler = None if self.handled_inside else handler_for(scope, exc)
        if handler is not None and started():  # handled, but its answer cannot be sent any more
            cause, exc = exc, RuntimeError("Caught handled exception, but response already started.")
            exc.__cause__ = cause
        elif handler is not None:
            try:
                response = await _run(handler, request, exc)
                if response is not None:
                    await response(scope, receive, send)
                exc.__traceback__ = None
                return
            except Exception as failed:  # the handler failed: an unexpected error like any other
                exc = failed
        if self.last_resort is not None:
            last: Response = await _run(self.last_resort, request, exc) or PlainTextResponse(
                "Internal Server Error", status_code=500)
        else:
            last = PlainTextResponse("Internal Server Error", status_code=500)
        if not started():
            await last(scope, receive, send)
        raise exc
