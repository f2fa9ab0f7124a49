"""The console's config: `[admin]` read and checked, `hash-password`, and what check-config says about it."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher

from tests.admin.conftest import HASH, admin_config
from widget_server.settings import ConfigError, Settings


def _cli(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "widget_server.cli", *args], input=stdin, capture_output=True,
                          text=True, timeout=60)


def test_hash_password_reads_stdin_and_makes_argon2id() -> None:
    out = _cli("hash-password", stdin="a long enough passphrase\n")
    assert out.returncode == 0
    hashed = out.stdout.strip()
    assert hashed.startswith("$argon2id$") and "passphrase" not in hashed
    assert PasswordHasher().verify(hashed, "a long enough passphrase")
    short = _cli("hash-password", stdin="short\n")
    assert short.returncode == 2 and "12 characters" in short.stderr and not short.stdout


def test_check_config_says_whether_the_console_is_on(tmp_path: Path) -> None:
    off = tmp_path / "off.toml"
    off.write_text('[widgets.support]\nreplica_id = "r1"\n')
    out = _cli("check-config", str(off))
    assert out.returncode == 0 and "console: off" in out.stdout and "hash-password" in out.stdout
    on = tmp_path / "on.toml"
    on.write_text(f'[admin]\nusers = [{{name = "ada", password_hash = "{HASH}"}}]\n'
                  '[widgets.support]\nreplica_id = "r1"\n')
    out = _cli("check-config", str(on))
    assert out.returncode == 0 and "console: on" in out.stdout and "1 operator" in out.stdout
    assert HASH not in out.stdout


@pytest.mark.parametrize(("admin", "problem"), [
    ({"users": []}, "admin.users: at least one operator is needed"),
    ({"users": [{"name": "ada", "password_hash": "plain"}]}, "admin.users[0].password_hash: must be an argon2id"),
    ({"users": [{"name": "a b", "password_hash": HASH}]}, "admin.users[0].name: must match"),
    ({"users": [{"name": "ada", "password_hash": HASH}, {"name": "ada", "password_hash": HASH}]},
     "admin.users[1].name: must be unique"),
    ({"users": [{"name": "ada", "password_hash": HASH, "role": "x"}]}, "admin.users[0].role: unknown key"),
    ({"users": [{"name": "ada", "password_hash": HASH}], "idle_timeout_s": 5}, "admin.idle_timeout_s: must be"),
    ({"users": [{"name": "ada", "password_hash": HASH}], "sesion_max_s": 5}, 'did you mean "session_max_s"'),
])
def test_admin_problems_name_the_key(make_settings: Callable[..., Settings], admin: dict[str, Any],
                                     problem: str) -> None:
    with pytest.raises(ConfigError) as err:
        make_settings({"admin": admin})
    assert any(p.startswith(problem) or problem in p for p in err.value.problems), err.value.problems
    assert HASH not in str(err.value)


def test_hashes_are_secrets(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings(admin_config())
    assert settings.admin is not None and HASH in settings.secrets()
    assert make_settings().admin is None
