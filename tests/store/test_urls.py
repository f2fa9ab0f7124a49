"""Store URLs: direct Redis, TLS and Sentinel parsed at start-up; Sentinel and TLS connect for real."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from tests.conftest import base_config, deep_merge
from tests.store.stores import opened
from widget_server.settings import parse_settings
from widget_server.store.base import ConversationRecord
from widget_server.store.redis import RedisStore
from widget_server.store.urls import StoreTarget, parse_store_url


@pytest.mark.parametrize(("url", "expected"), [
    ("sqlite:///state.db", StoreTarget("sqlite", path="state.db")),
    ("redis://127.0.0.1:6379/0", StoreTarget("redis", connection={"host": "127.0.0.1", "port": 6379, "db": 0})),
    ("redis://cache", StoreTarget("redis", connection={"host": "cache", "port": 6379, "db": 0})),
    ("redis://[::1]:7000/2?socket_timeout=2.5",
     StoreTarget("redis", connection={"host": "::1", "port": 7000, "db": 2, "socket_timeout": 2.5})),
    ("rediss://default:p%40ss@redis.example.com:6380/1?ssl_ca_certs=/etc/ca.pem&ssl_check_hostname=false",
     StoreTarget("redis", connection={"host": "redis.example.com", "port": 6380, "username": "default",
                                      "password": "p@ss", "db": 1, "ssl": True, "ssl_ca_certs": "/etc/ca.pem",
                                      "ssl_check_hostname": False})),
    ("redis+sentinel://:pw@s1,s2:26380,[fd00::3]/mymaster",
     StoreTarget("redis", connection={"password": "pw", "db": 0}, service="mymaster",
                 sentinels=(("s1", 26379), ("s2", 26380), ("fd00::3", 26379)))),
    ("rediss+sentinel://s1:26379/cache/3?sentinel_password=spw&ssl_cert_reqs=none",
     StoreTarget("redis", connection={"db": 3, "ssl": True, "ssl_cert_reqs": "none"}, service="cache",
                 sentinels=(("s1", 26379),), sentinel_auth={"password": "spw"})),
])
def test_store_urls_parse(url: str, expected: StoreTarget) -> None:
    assert parse_store_url(url) == expected


@pytest.mark.parametrize(("url", "message"), [
    ("postgres://x", 'must be "sqlite:///PATH" or "redis://HOST:PORT/DB"'),
    ("sqlite:///", "must name a file"),
    ("redis://", "must name a host"),
    ("redis://h:99999/0", 'has a bad host or port "h:99999"'),
    ("redis://h:0/0", 'has a bad host or port "h:0"'),
    ("redis://h/x", "must end in a database number"),
    ("redis://a,b/0", "must have one host; for several, use Redis Sentinel"),
    ("redis+sentinel://s1:26379", "must name the Sentinel service"),
    ("redis://h/0?ssl_ca_certs=/ca.pem", 'option "ssl_ca_certs" needs TLS ("rediss://")'),
    ("redis://h/0?sentinel_password=x", 'option "sentinel_password" needs Redis Sentinel'),
    ("rediss://h/0?ssl_cert_reqs=maybe", 'option "ssl_cert_reqs" must be none | optional | required'),
    ("redis://h/0?socket_timeout=-1", 'option "socket_timeout" must be seconds'),
    ("redis://h/0?sockettimeout=1", 'has an unknown option "sockettimeout" (known: socket_timeout,'),
])
def test_bad_store_urls_say_what_is_wrong(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        parse_store_url(url)


def _record(local_id: str) -> ConversationRecord:
    return ConversationRecord(local_id=local_id, widget="w", status="creating", created_at=1_800_000_000.0,
                              expires_at=1_800_000_600.0)


@pytest.mark.redis
@pytest.mark.anyio
async def test_sentinel_url_reaches_the_master_the_sentinel_names(redis_url: str, sentinel_service: str) -> None:
    async with opened(RedisStore(sentinel_service)) as via_sentinel, opened(RedisStore(redis_url)) as direct:
        await via_sentinel.insert(_record("l_sentinel"))
        assert await direct.by_local("l_sentinel") == _record("l_sentinel")


@pytest.mark.redis
@pytest.mark.anyio
async def test_tls_verifies_the_server_certificate(redis_tls_service: str) -> None:
    async with opened(RedisStore(redis_tls_service)) as trusting:
        assert await trusting.ping()
    # Without the throwaway CA the certificate is not trusted: no connection.
    untrusting = RedisStore(redis_tls_service.split("?")[0])
    with pytest.raises(RedisConnectionError) as info:
        await untrusting.open()
    await untrusting.close()
    assert "certificate" in str(info.value).lower()


def test_store_url_credentials_are_secrets(tmp_path: Path) -> None:
    raw = deep_merge(base_config(tmp_path), {"server": {"store": "${STORE}"}})
    settings = parse_settings(raw, {"STORE": "rediss+sentinel://:master-pw@s1/m/0?sentinel_password=sentinel-pw"})
    assert {"master-pw", "sentinel-pw"} <= set(settings.secrets())
