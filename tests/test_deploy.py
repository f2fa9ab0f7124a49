"""The files around the image agree with each other and with the server: compose, Caddy, the config, systemd."""

from __future__ import annotations

import ipaddress
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from widget_server.settings import load_settings

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
ENV = {"WIDGET_SECRET_KEY": "s" * 32, "WIDGET_SERVER_KEY": "k" * 32, "TAVUS_API_KEY": "tvs_" + "x" * 28}


def test_compose_runs_two_read_only_instances_behind_the_trusted_proxy() -> None:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    services = compose["services"]
    assert {"widget-1", "widget-2", "caddy", "redis", "postgres"} <= set(services)
    instances = [services["widget-1"], services["widget-2"]]
    assert instances[0] == instances[1]
    assert instances[0]["read_only"] is True and instances[0]["user"] == "10001:10001"
    settings = load_settings(DEPLOY / "widgets.toml", ENV)
    assert settings.server.store.startswith("redis://redis:")
    caddy_ip = services["caddy"]["networks"]["backend"]["ipv4_address"]
    assert settings.server.trusted_proxies == (ipaddress.ip_network(caddy_ip),)
    assert not settings.demo_page
    upstreams = re.search(r"reverse_proxy ([^{]+)\{", (DEPLOY / "Caddyfile").read_text())
    assert upstreams and upstreams.group(1).split() == ["widget-1:8000", "widget-2:8000"]


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_systemd_unit_verifies() -> None:
    run = subprocess.run(["systemd-analyze", "verify", str(DEPLOY / "widget-server.service")],
                         capture_output=True, text=True)
    # The only complaint allowed here: the server is not installed on this machine.
    complaints = [line for line in (run.stdout + run.stderr).splitlines()
                  if line and "/opt/widget-server/bin/widget-server is not executable" not in line]
    assert complaints == []
