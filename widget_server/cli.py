"""``widget-server`` commands: serve, check-config, sandbox."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence

from widget_server.audit import audit
from widget_server.logs import FORMATS, LEVELS, configure_logging
from widget_server.settings import ConfigError, Settings, default_settings, load_settings
from widget_server.version import package_version, version_text

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
DEFAULT_SANDBOX_PORT = 8790


def _public_url(host: str, port: int) -> str:
    shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    return f"http://{shown}:{port}"


def _load(path: str | None, host: str, port: int) -> Settings:
    if path is None:
        return default_settings(public_url=_public_url(host, port))
    return load_settings(path, default_public_url=_public_url(host, port))


SHUTDOWN_GRACE_S = 5


def cmd_serve(args: argparse.Namespace) -> int:
    from widget_server.app import create_app
    from widget_server.assets import Assets
    from widget_server.process import run
    from widget_server.reload import reload_config

    try:
        settings = _load(args.config, args.host, args.port)
    except ConfigError as err:
        for problem in err.problems:
            print(problem, file=sys.stderr)
        print(f"{len(err.problems)} problem(s): not starting", file=sys.stderr)
        return 2
    assets = Assets()
    missing = assets.missing()
    if missing:
        for name in missing:
            print(f"missing asset: {name}", file=sys.stderr)
        print(f"{len(missing)} asset(s) missing: not starting", file=sys.stderr)
        return 2
    configure_logging(settings.secrets(), args.log_level, args.log_format)
    log = logging.getLogger("widget_server")
    for warning in audit(settings):
        log.warning("config: %s", warning)
    if settings.server.generated_secret:
        log.warning("no server.secret_key: using a random key for this process (sessions end on restart)")
    widgets = ", ".join(settings.widgets)
    log.info("engine %s, store %s, widgets: %s", settings.engine.kind, settings.server.store.split("://")[0],
             widgets)
    demo = f"  (demo page at {settings.server.public_url}/)" if settings.demo_page else ""
    log.info("widget-server %s on %s%s", package_version(), settings.server.public_url, demo)
    app = create_app(settings, assets=assets, metrics_route=args.metrics_port is None)
    if args.metrics_port is not None:
        log.info("metrics on http://%s:%d/metrics (not on the main port)", args.host, args.metrics_port)
    # On SIGTERM /readyz answers 503 for server.drain_s, then requests in flight get SHUTDOWN_GRACE_S to
    # finish and the rest are answered 503, so that a stuck client cannot hold a deploy; a create cut short
    # is settled by the sweep and the reconciler. SIGHUP reads the config file again.
    # log_config=None: uvicorn's lines go through the handler configured above (same format, same redaction).
    run(app, host=args.host, port=args.port, drain_s=settings.server.drain_s, grace_s=SHUTDOWN_GRACE_S,
        reload=lambda: reload_config(app, args.config, default_public_url=_public_url(args.host, args.port)),
        metrics_port=args.metrics_port, log_config=None,
        log_level="debug" if args.log_level == "debug" else "warning", access_log=args.log_level == "debug",
        proxy_headers=False, server_header=False)
    log.info("stopped")
    return 0


def cmd_check_config(args: argparse.Namespace) -> int:
    try:
        settings = load_settings(args.file)
    except ConfigError as err:
        for problem in err.problems:
            print(problem)
        print(f"{len(err.problems)} problem(s) in {args.file}")
        return 2
    for warning in audit(settings):
        print(f"warning: {warning}")
    print(f"{args.file}: valid ({len(settings.widgets)} widget(s): {', '.join(settings.widgets)}; "
          f"engine {settings.engine.kind})")
    return 0


def cmd_sandbox(args: argparse.Namespace) -> int:
    from widget_server.engines.sandbox.service import run_sandbox

    configure_logging((args.api_key,) if args.api_key else ())
    for name, value in (("--fail-rate", args.fail_rate), ("--lose-rate", args.lose_rate),
                        ("--drop-callback-rate", args.drop_callback_rate)):
        if not 0 <= value <= 1:
            print(f"{name}: must be 0..1, got {value}", file=sys.stderr)
            return 2
    run_sandbox(host=args.host, port=args.port, api_key=args.api_key, max_concurrent=args.max_concurrent,
                latency_ms=args.latency_ms, fail_rate=args.fail_rate, lose_rate=args.lose_rate,
                drop_callback_rate=args.drop_callback_rate)
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    import asyncio
    import json
    import time

    from widget_server.ledger import ledger, render, summary
    from widget_server.store import ConversationRecord, open_store

    try:
        settings = _load(args.config, DEFAULT_HOST, DEFAULT_PORT)
    except ConfigError as err:
        for problem in err.problems:
            print(problem, file=sys.stderr)
        return 2

    async def read() -> list[ConversationRecord]:
        store = open_store(settings.server.store)
        await store.open()
        try:
            return await store.records_since(time.time() - args.hours * 3600)
        finally:
            await store.close()

    now = time.time()
    rows = ledger(asyncio.run(read()), now)
    if args.json:
        print(json.dumps({"rows": [r.to_json() for r in rows], "summary": summary(rows)}, indent=2))
    else:
        print(render(rows))
    return 0


class _Version(argparse.Action):
    """Printed as is (argparse's own action re-wraps the lines) and read only when asked for."""

    def __call__(self, parser: argparse.ArgumentParser, *_: object) -> None:
        print(version_text())
        parser.exit()


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="widget-server", description="Face-to-face AI conversations on any website.")
    p.add_argument("--version", action=_Version, nargs=0, help="the version of the package and of each versioned part")
    sub = p.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the server (no config: sandbox engine, SQLite, widget demo)")
    serve.add_argument("--config", help="TOML config file")
    # The environment may set the bind (an image's healthcheck reads the same variable as the server).
    serve.add_argument("--host", default=os.environ.get("WIDGET_SERVER_HOST", DEFAULT_HOST),
                       help="default $WIDGET_SERVER_HOST, else %(default)s")
    serve.add_argument("--port", type=int, default=os.environ.get("WIDGET_SERVER_PORT", DEFAULT_PORT),
                       help="default $WIDGET_SERVER_PORT, else %(default)s")
    serve.add_argument("--log-level", choices=LEVELS, default="info")
    serve.add_argument("--log-format", choices=FORMATS, default="text",
                       help="json: one object per line (time, level, logger, message, fields)")
    serve.add_argument("--metrics-port", type=int, default=None,
                       help="serve GET /metrics on this port (same host) instead of the main one")
    serve.set_defaults(func=cmd_serve)
    check = sub.add_parser("check-config", help="validate a config file; exit 0 if valid, 2 if not")
    check.add_argument("file")
    check.set_defaults(func=cmd_check_config)
    sandbox = sub.add_parser("sandbox", help="run the sandbox engine alone, speaking the upstream /v2 API")
    sandbox.add_argument("--host", default=DEFAULT_HOST)
    sandbox.add_argument("--port", type=int, default=DEFAULT_SANDBOX_PORT)
    sandbox.add_argument("--api-key", default=None, help="answer 401 to any other key")
    sandbox.add_argument("--max-concurrent", type=int, default=10)
    sandbox.add_argument("--latency-ms", type=int, default=0)
    sandbox.add_argument("--fail-rate", type=float, default=0.0)
    sandbox.add_argument("--lose-rate", type=float, default=0.0)
    sandbox.add_argument("--drop-callback-rate", type=float, default=0.0,
                         help="share of callbacks not sent (1: none, for benchmarks without a receiver)")
    sandbox.set_defaults(func=cmd_sandbox)
    report = sub.add_parser("report", help="the ledger: conversations created, ended, why, seconds live and "
                                           "seconds without a visitor")
    report.add_argument("--config", help="TOML config file (its server.store is read)")
    report.add_argument("--hours", type=float, default=24.0, help="how far back (default 24)")
    report.add_argument("--json", action="store_true", help="machine-readable rows and summary")
    report.set_defaults(func=cmd_report)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
