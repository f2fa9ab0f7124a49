"""Config keys declared once, on the dataclass fields they fill, and one reader over them.

    @dataclass(frozen=True)
    class Limits:
        max_concurrent: int = integer(3, 1, 10_000, "live conversations at once")

    reader = Reader(env)
    limits = reader.build(Limits, raw_table, "widgets.support.limits")   # problems collect in reader.problems

A declaration holds the key's type, its default (the field's), bounds or length and one line of help. A field
declared with ``NO_DEFAULT`` is required, or its value is given by the caller of ``Reader.read``.

Any string value, list items included, may be written ``"${ENV_VAR}"``: the reader takes it from the
environment (``"$${X}"`` is the literal text ``${X}``). A secret's value is never shown in a problem.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import MISSING, Field, dataclass, field, fields
from typing import Any, TypeVar

T = TypeVar("T")
NO_DEFAULT: Any = MISSING  # the value is required, or given by the caller of Reader.read
ENV_REF = re.compile(r"^(\$?)\$\{([A-Za-z_][A-Za-z0-9_]*)\}$")
URL_PASSWORD = re.compile(r"(://[^/@:]*:)[^/]*@")  # a password in a URL (a store's) is never shown
_EMPTY: dict[str, Any] = {"string": "", "strings": ()}


@dataclass(frozen=True)
class Setting:
    kind: str  # string | boolean | integer | number | choice | strings | texts | table
    help: str
    lo: float = 0
    hi: float = 0
    max_len: int = 10_000
    options: tuple[str, ...] = ()
    secret: bool = False  # never shown: not in problems, redacted from logs (Settings.secrets)
    key: str = ""  # the config key, when it is not the field name
    parse: Callable[[str], Any] | None = None  # custom validator: the value, or ValueError(expected form)
    table: type | None = None


def _declare(setting: Setting, default: Any) -> Any:
    metadata = {"setting": setting}
    if setting.table is not None:
        return field(default_factory=setting.table, metadata=metadata)
    if default is NO_DEFAULT:
        return field(metadata=metadata)
    return field(default=default, metadata=metadata)


def string(default: Any, help: str, *, max_len: int = 10_000, secret: bool = False,
           parse: Callable[[str], Any] | None = None) -> Any:
    return _declare(Setting("string", help, max_len=max_len, secret=secret, parse=parse), default)


def boolean(default: bool, help: str) -> Any:
    return _declare(Setting("boolean", help), default)


def integer(default: int, lo: int, hi: int, help: str) -> Any:
    return _declare(Setting("integer", help, lo=lo, hi=hi), default)


def number(default: float, lo: float, hi: float, help: str) -> Any:
    return _declare(Setting("number", help, lo=lo, hi=hi), default)


def choice(default: str, options: tuple[str, ...], help: str) -> Any:
    return _declare(Setting("choice", help, options=options), default)


def strings(default: Any, help: str, *, options: tuple[str, ...] = (), secret: bool = False, key: str = "",
            parse: Callable[[str], Any] | None = None) -> Any:
    """A list of strings (a lone string counts as a list of one); ``options`` limits what the items may be."""
    return _declare(Setting("strings", help, options=options, secret=secret, key=key, parse=parse), default)


def texts(help: str, *, keys: tuple[str, ...], max_len: int = 2000) -> Any:
    """A table of strings by key (``[x.texts]`` ``join = "Start"``), each key one of ``keys``; read as pairs."""
    return _declare(Setting("texts", help, options=keys, max_len=max_len), ())


def table(cls: type, help: str) -> Any:
    return _declare(Setting("table", help, table=cls), NO_DEFAULT)


def declared(cls: type) -> Iterator[tuple[str, Field[Any], Setting]]:
    """The config key, the field and the declaration of each setting of a dataclass, in field order."""
    for f in fields(cls):
        setting = f.metadata.get("setting")
        if isinstance(setting, Setting):
            yield setting.key or f.name, f, setting


def default_of(f: Field[Any]) -> Any:
    """The field's declared default, or NO_DEFAULT."""
    if f.default_factory is not MISSING:
        return f.default_factory()
    return f.default


class Reader:
    """Walks the raw TOML, collecting every problem instead of stopping at the first."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env
        self.problems: list[str] = []

    def fail(self, path: str, expected: str, value: Any, *, secret: bool = False) -> None:
        self.problems.append(f"{path}: {expected}, got {_kind(value) if secret else _show(value)}")

    def table(self, raw: dict[str, Any], path: str, key: str) -> dict[str, Any]:
        value = raw.get(key, {})
        if not isinstance(value, dict):
            self.fail(_join(path, key), "must be a table", value)
            return {}
        return value

    def unknown(self, raw: dict[str, Any], path: str, known: set[str]) -> None:
        for key in raw:
            if key in known:
                continue
            close = difflib.get_close_matches(str(key), sorted(known), n=1)
            hint = f'did you mean "{close[0]}"?' if close else f"known: {', '.join(sorted(known))}"
            self.problems.append(f"{_join(path, key)}: unknown key ({hint})")

    def build(self, cls: type[T], raw: dict[str, Any], path: str) -> T:
        return cls(**self.read(cls, raw, path))

    def read(self, cls: type, raw: dict[str, Any], path: str, given: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The value of every declared field of ``cls`` from ``raw``; ``given`` supplies defaults the class lacks."""
        found = list(declared(cls))
        self.unknown(raw, path, {key for key, _, _ in found})
        values: dict[str, Any] = {}
        for key, f, setting in found:
            default = (given or {}).get(f.name, default_of(f))
            if default is NO_DEFAULT:
                default = _EMPTY[setting.kind]
            values[f.name] = self._value(setting, raw, path, key, default)
        return values

    def _value(self, s: Setting, raw: dict[str, Any], path: str, key: str, default: Any) -> Any:
        at = _join(path, key)
        if s.kind == "table":
            assert s.table is not None
            return self.build(s.table, self.table(raw, path, key), at)
        if key not in raw:
            value = default
        else:
            value = self.expand(raw[key], at)
            if value is None:
                return default
        if s.kind == "string":
            return self._string(value, at, default, s)
        if s.kind == "strings":
            return self._strings(value, at, s)
        if s.kind == "texts":
            return self._texts(value, at, s) if isinstance(value, dict) or key in raw else value
        integral = isinstance(value, int) and not isinstance(value, bool)
        if s.kind == "boolean":
            ok, expected = isinstance(value, bool), "must be true or false"
        elif s.kind == "integer":
            ok = integral and s.lo <= value <= s.hi
            # Out of range: the bounds are what is wrong. Of another type: say what the key takes.
            expected = f"must be {s.lo}..{s.hi}" if integral else f"must be an integer {s.lo}..{s.hi}"
        elif s.kind == "number":
            ok = (integral or isinstance(value, float)) and s.lo <= value <= s.hi
            expected = f"must be a number {s.lo:g}..{s.hi:g}"
        else:
            ok, expected = value in s.options, "must be one of " + " | ".join(f'"{o}"' for o in s.options)
        if not ok:
            self.fail(at, expected, value)
            return default
        return float(value) if s.kind == "number" else value

    def expand(self, value: Any, path: str) -> Any:
        """``value`` with a ``"${ENV_VAR}"`` string read from the environment; None (a problem) when unset."""
        if not isinstance(value, str):
            return value
        match = ENV_REF.match(value)
        if match is None:
            return value
        if match.group(1):
            return value[1:]  # "$${X}" is the text "${X}"
        name = match.group(2)
        if not self.env.get(name):
            self.problems.append(f"{path}: environment variable {name} is not set")
            return None
        return self.env[name]

    def _string(self, value: Any, path: str, default: Any, s: Setting) -> Any:
        if not isinstance(value, str):
            self.fail(path, "must be a string", value, secret=s.secret)
            value = default
        elif len(value) > s.max_len:
            self.fail(path, f"must be at most {s.max_len} characters", value, secret=True)
            value = default
        if s.parse is None:
            return value
        # The default is parsed too: one given by the caller may be wrong, a required one is empty.
        try:
            return s.parse(value)
        except ValueError as exc:
            self.fail(path, str(exc), value, secret=s.secret)
            return default

    def _texts(self, value: Any, path: str, s: Setting) -> tuple[tuple[str, str], ...]:
        if not isinstance(value, dict):
            self.fail(path, "must be a table of strings", value)
            return ()
        self.unknown(value, path, set(s.options))
        out = []
        for key, text in value.items():
            if key not in s.options:
                continue
            text = self.expand(text, _join(path, key))
            if text is None:
                continue
            if not isinstance(text, str) or not text or len(text) > s.max_len:
                self.fail(_join(path, key), f"must be a string of 1..{s.max_len} characters", text)
                continue
            out.append((key, text))
        return tuple(out)

    def _strings(self, value: Any, path: str, s: Setting) -> tuple[Any, ...]:
        single = isinstance(value, str)
        if single:
            value = [value]
        if not isinstance(value, (list, tuple)):
            self.fail(path, "must be a list of strings", value, secret=s.secret)
            return ()
        items: list[tuple[str, str]] = []
        for i, item in enumerate(value):
            item_path = path if single else f"{path}[{i}]"
            if not single:
                item = self.expand(item, item_path)
                if item is None:
                    continue
            if not isinstance(item, str) or not item:
                self.fail(item_path, "must be a non-empty string", item, secret=s.secret)
                continue
            items.append((item_path, item))
        out = []
        for item_path, item in items:
            if s.options and item not in s.options:
                self.fail(item_path, "must be one of " + ", ".join(s.options), item)
            elif s.parse is None:
                out.append(item)
            else:
                try:
                    out.append(s.parse(item))
                except ValueError as exc:
                    self.fail(item_path, str(exc), item, secret=s.secret)
        return tuple(out)


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _kind(value: Any) -> str:
    """What a value is, without showing it (for secrets)."""
    if isinstance(value, str):
        return f"a string of {len(value)} characters"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    return _show(value)


def _show(value: Any) -> str:
    if isinstance(value, str):
        text = URL_PASSWORD.sub(r"\1***@", value)
        return '"' + (text if len(text) <= 60 else text[:57] + "...") + '"'
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "a list"
    return repr(value)
