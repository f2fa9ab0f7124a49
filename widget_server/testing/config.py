"""The config files of the widget-server processes that the tests and the benchmark start on loopback.

    path.write_text(server_config(public_url="http://127.0.0.1:8080", secret_key=SECRET, server_key=KEY,
                                  store="sqlite:///state.db", engine_url=sandbox_url, engine_key="k", drain_s=0)
                    + '[widgets.support]\\nreplica_id = "r_test"\\n')

gives the ``[server]`` table and an ``[engine]`` table of kind "tavus" pointing at ``engine_url`` (the
sandbox or a stand-in); the rest of the file (widgets, lifecycle, ...) stays the caller's own TOML.
"""

from __future__ import annotations

import json

Value = str | bool | int | float | list[str]


def toml_value(value: Value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return json.dumps(value)  # a TOML basic string or number


def table(name: str, values: dict[str, Value]) -> str:
    return f"[{name}]\n" + "".join(f"{key} = {toml_value(value)}\n" for key, value in values.items())


def server_config(*, public_url: str, secret_key: str, server_key: str, store: str, engine_url: str = "",
                  engine_key: str = "", engine_timeout_s: float | None = None, **server: Value) -> str:
    """``[server]`` (with ``server`` added to it) and, given ``engine_url``, ``[engine]``."""
    text = table("server", {"public_url": public_url, "secret_key": secret_key, "server_keys": [server_key],
                            "store": store, **server})
    if engine_url:
        engine: dict[str, Value] = {"kind": "tavus", "base_url": engine_url, "api_key": engine_key}
        if engine_timeout_s is not None:
            engine["timeout_s"] = engine_timeout_s
        text += table("engine", engine)
    return text
