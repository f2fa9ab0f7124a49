"""The history's commands: report, migrate, purge, backup, --version; none of them needs a secret."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from widget_server.history import open_history
from widget_server.history.migrate import head
from widget_server.store import ConversationRecord

pytestmark = pytest.mark.anyio

# An engine whose key is in an environment variable nobody set here: the commands must not need it.
CONFIG = '''[server]
store = "sqlite:///{db}"
secret_key = "${{WIDGET_SECRET_KEY}}"
[engine]
kind = "tavus"
api_key = "${{TAVUS_API_KEY}}"
[retention]
conversations_days = 30
transcripts_days = 7
client_ip_days = 1
[widgets.support]
replica_id = "r"
'''


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "widget_server.cli", *args], capture_output=True, text=True,
                          timeout=60, env={"PATH": "/usr/bin:/bin"})


async def filled(tmp_path: Path) -> Path:
    db = tmp_path / "state.db"
    history = open_history(f"sqlite:///{db}")
    await history.open()
    now = time.time()
    for i, (reason, seen, age) in enumerate((("visitor_page_hidden", 40, 0), ("heartbeat_timeout", 10, 0),
                                              ("max_call_duration reached", None, 40))):
        created = now - 100 - age * 86400
        await history.record_end(ConversationRecord(
            f"l{i}", "support", "ended", created, created + 600, client_ip="203.0.113.9", conversation_id=f"c{i}",
            ended_at=created + 40, end_reason=reason, last_seen=None if seen is None else created + seen),
            source="server")
    await history.close()
    config = tmp_path / "c.toml"
    config.write_text(CONFIG.format(db=db))
    return config


async def test_report_reads_history_without_secrets(tmp_path: Path) -> None:
    config = await filled(tmp_path)
    out = cli("report", "--config", str(config))
    assert out.returncode == 0, out.stderr
    assert "heartbeat_timeout" in out.stdout and "2 conversation(s), 80.0 s live, 30.0 s of them" in out.stdout
    assert '"seconds_live": 40.0' in cli("report", "--config", str(config), "--json", "--widget", "support").stdout


async def test_report_counts_the_waiting_line(tmp_path: Path) -> None:
    config = await filled(tmp_path)
    history = open_history(f"sqlite:///{tmp_path / 'state.db'}")
    await history.open()
    for reason, waited in (("served", 30.0), ("served", 50.0), ("left", 5.0), ("expired", 600.0)):
        action = "queue.served" if reason == "served" else "queue.left"
        await history.record_audit(time.time() - 10, "line", action, "q_x",
                                   {"widget": "support", "reason": reason, "waited_s": waited})
    await history.close()
    out = cli("report", "--config", str(config))
    assert out.returncode == 0, out.stderr
    row = next(ln for ln in out.stdout.splitlines() if ln.startswith("support "))
    assert row.split()[:4] == ["support", "2", "2", "40.0"] and "expired 1, left 1" in row


async def test_purge_dry_run_says_what_it_would_remove(tmp_path: Path) -> None:
    config = await filled(tmp_path)
    dry = cli("purge", "--config", str(config), "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "would remove: 1 conversation(s) older than 30 days" in dry.stdout
    assert "0 client address(es)" in dry.stdout  # the recent two are younger than a day
    assert "removed: 1 conversation(s)" in cli("purge", "--config", str(config)).stdout
    assert "would remove: 0 conversation(s)" in cli("purge", "--config", str(config), "--dry-run").stdout


async def test_migrate_backup_and_version(tmp_path: Path) -> None:
    config = await filled(tmp_path)
    migrated = cli("migrate", "--config", str(config))
    assert migrated.returncode == 0 and f"history schema at {head()}" in migrated.stdout
    copy = tmp_path / "backups" / "copy.db"
    done = cli("backup", str(copy), "--config", str(config))
    assert done.returncode == 0, done.stderr
    assert "online backup" in done.stdout
    report = cli("report", "--history", f"sqlite:///{copy}")
    assert "2 conversation(s)" in report.stdout
    assert cli("backup", str(copy), "--config", str(config)).returncode == 1  # never overwrites
    refused = cli("backup", str(copy), "--history", "postgresql://u:p@127.0.0.1:1/db")
    assert refused.returncode == 2 and "pg_dump" in refused.stderr
    assert f"history schema {head()}" in cli("--version").stdout


async def test_migrate_is_needed_when_start_up_migrations_are_off(tmp_path: Path) -> None:
    fresh = tmp_path / "fresh.db"
    out = cli("report", "--history", f"sqlite:///{fresh}")
    assert out.returncode == 2 and "run `widget-server migrate`" in out.stderr
    assert cli("migrate", "--history", f"sqlite:///{fresh}").returncode == 0
    assert cli("report", "--history", f"sqlite:///{fresh}").returncode == 0
