"""``widget-server`` commands: serve, check-config, sandbox, and the history's report, migrate, purge, backup."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING

from widget_server.audit import audit
from widget_server.logs import FORMATS, LEVELS, configure_logging
from widget_server.settings import (
    ConfigError,
    HistoryTarget,
    Settings,
    default_settings,
    load_history_target,
    load_settings,
)
from widget_server.version import package_version, version_text

if TYPE_CHECKING:
    from widget_server.history import History

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
    if settings.admin is None:
        print("console: off (no [admin] table); to turn it on, make a password hash with "
              "`widget-server hash-password` and add: [admin] users = [{name = \"you\", password_hash = \"...\"}]")
    else:
        print(f"console: on at {settings.server.public_url}/admin for {len(settings.admin.users)} operator(s)")
    print(f"{args.file}: valid ({len(settings.widgets)} widget(s): {', '.join(settings.widgets)}; "
          f"engine {settings.engine.kind})")
    return 0


def cmd_hash_password(args: argparse.Namespace) -> int:
    """An argon2id hash of the password on stdin (its first line), for ``[admin] users``."""
    from widget_server.admin.auth import hash_password

    password = sys.stdin.readline().rstrip("\r\n")
    if len(password) < 12:
        print("hash-password: give a password of at least 12 characters on stdin", file=sys.stderr)
        return 2
    print(hash_password(password))
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


def _history_target(args: argparse.Namespace) -> HistoryTarget | None:
    """server.history (or the store's SQLite file) and [retention] of --config, or --history; no secrets read."""
    try:
        target = load_history_target(args.config)
    except ConfigError as err:
        for problem in err.problems:
            print(problem, file=sys.stderr)
        return None
    return HistoryTarget(args.history, target.retention) if args.history else target


def _with_history(args: argparse.Namespace, work: Callable[[History], Awaitable[int]], *, migrate: bool = False) -> int:
    import asyncio

    from widget_server.history import open_history
    from widget_server.history.migrate import SchemaBehind

    target = _history_target(args)
    if target is None:
        return 2

    async def run() -> int:
        history = open_history(target.url)
        try:
            await history.open(migrate=migrate)
        except SchemaBehind as exc:
            print(exc, file=sys.stderr)
            return 2
        try:
            return await work(history)
        finally:
            await history.close()

    return asyncio.run(run())


def cmd_report(args: argparse.Namespace) -> int:
    import json
    import time

    from widget_server.history import LedgerQuery
    from widget_server.ledger import ledger, line_summary, render, render_line, summary

    async def work(history: History) -> int:
        now = time.time()
        since = now - args.hours * 3600
        query = LedgerQuery(widget=args.widget, since=since, limit=None, order="asc")
        rows = ledger(list(await history.page(query)), now)
        line = line_summary(await history.audit_log(since, limit=1_000_000))
        if args.widget:
            line = {w: s for w, s in line.items() if w == args.widget}
        if args.json:
            print(json.dumps({"rows": [r.to_json() for r in rows], "summary": summary(rows), "line": line}, indent=2))
        else:
            print(render(rows))
            if line:
                print("\n" + render_line(line))
        return 0

    return _with_history(args, work)


def cmd_migrate(args: argparse.Namespace) -> int:
    async def work(history: History) -> int:
        print(f"history schema at {await history.schema_version()} ({_redact(history.url)})")
        return 0

    return _with_history(args, work, migrate=True)


def cmd_purge(args: argparse.Namespace) -> int:
    import time

    from widget_server.history.recorder import retention_of_target

    target = _history_target(args)
    if target is None:
        return 2
    retention = retention_of_target(target.retention)

    async def work(history: History) -> int:
        counts = await history.purge(retention, time.time(), dry_run=args.dry_run)
        verb = "would remove" if args.dry_run else "removed"
        print(f"{verb}: {counts['conversations']} conversation(s) older than {retention.conversations_days} days, "
              f"{counts['transcripts']} transcript(s) older than {retention.transcripts_days} days, "
              f"{counts['client_ips']} client address(es) older than {retention.client_ip_days} days, "
              f"{counts['deliveries']} webhook delivery record(s), {counts['audit']} audit entr(ies)"
              " (0 days: kept forever)")
        if not args.dry_run:
            await history.record_audit(time.time(), "cli", "purge", "", counts)
        return 0

    return _with_history(args, work)


def cmd_backup(args: argparse.Namespace) -> int:
    from widget_server.history.backup import backup_sqlite

    target = _history_target(args)
    if target is None:
        return 2
    if not target.url.startswith("sqlite:///"):
        print("the history database is PostgreSQL: back it up with its own tools, e.g. "
              "pg_dump --format=custom --file=history.dump \"$DATABASE_URL\" (see docs/operations.md)",
              file=sys.stderr)
        return 2
    try:
        pages = backup_sqlite(target.url.removeprefix("sqlite:///"), args.path)
    except (OSError, ValueError) as exc:
        print(f"backup failed: {exc}", file=sys.stderr)
        return 1
    print(f"{target.url.removeprefix('sqlite:///')} -> {args.path} ({pages} pages, online backup)")
    return 0


class _Version(argparse.Action):
    """Printed as is (argparse's own action re-wraps the lines) and read only when asked for."""

    def __call__(self, parser: argparse.ArgumentParser, *_: object) -> None:
        print(version_text())
        parser.exit()


def _redact(url: str) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return url.replace(f":{parts.password}@", ":***@") if parts.password else url

def _history_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", help="TOML config file: its server.history (or server.store's SQLite file) and "
                                    "[retention]; no other key is read, no secret needed")
    p.add_argument("--history", help="the history database URL, instead of the config's")


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
    hashing = sub.add_parser("hash-password", help="an argon2id hash of the password read from stdin, "
                                                   "for [admin] users")
    hashing.set_defaults(func=cmd_hash_password)
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
    report = sub.add_parser("report", help="the ledger, from the history database: conversations created, ended, "
                                           "why, seconds live and seconds without a visitor")
    _history_args(report)
    report.add_argument("--hours", type=float, default=24.0, help="how far back (default 24)")
    report.add_argument("--widget", help="one widget only")
    report.add_argument("--json", action="store_true", help="machine-readable rows and summary")
    report.set_defaults(func=cmd_report)
    migrate = sub.add_parser("migrate", help="bring the history database's schema up to date")
    _history_args(migrate)
    migrate.set_defaults(func=cmd_migrate)
    purge = sub.add_parser("purge", help="remove what [retention] says has gone from the history database")
    _history_args(purge)
    purge.add_argument("--dry-run", action="store_true", help="only say what would be removed")
    purge.set_defaults(func=cmd_purge)
    backup = sub.add_parser("backup", help="an online copy of a SQLite history database (PostgreSQL: pg_dump)")
    backup.add_argument("path", help="the copy to write (a new file)")
    _history_args(backup)
    backup.set_defaults(func=cmd_backup)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
