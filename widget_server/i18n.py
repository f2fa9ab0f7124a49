"""The visitor's language: the UI catalogs in static/i18n/ (one flat JSON object per language, English the
reference), the language names the engine takes mapped to their codes, and the text a widget's page starts with.

    english()                       # {"join_video": "Join with video", ...}
    code_for("spanish")             # "es"
    texts_for(widget)               # English with the widget's [texts] overrides: what the template renders
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path

from widget_server.assets import STATIC_DIR

CATALOGS: Path = STATIC_DIR / "i18n"
REFERENCE = "en"
PLACEHOLDER = re.compile(r"\{(\w+)\}")
RTL = frozenset({"ar", "he", "fa", "ur"})
# The engine's `language` names (upstream: full lower-case names) and the UI's codes.
NAMES = {"english": "en", "spanish": "es", "french": "fr", "german": "de", "portuguese": "pt", "italian": "it",
         "japanese": "ja", "arabic": "ar", "hebrew": "he"}


# Words of screens few visitors see (the waiting line, a device refused mid-call), left out of the English inlined
# in the page; static/call/i18n.js `more` fetches them with the module that needs them.
DEFERRED = ("line_", "device_", "refusal_page_")  # refusal_page_: the server's "not available here" page


def languages() -> tuple[str, ...]:
    """The codes of the catalogs shipped, English first."""
    found = sorted(p.stem for p in CATALOGS.glob("*.json")) if CATALOGS.is_dir() else []
    return (REFERENCE, *(code for code in found if code != REFERENCE))


@cache
def catalog(code: str) -> dict[str, str]:
    data = json.loads((CATALOGS / f"{code}.json").read_text(encoding="utf-8"))
    if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
        raise ValueError(f"static/i18n/{code}.json: must be one object of strings")
    return data


def english() -> dict[str, str]:
    return catalog(REFERENCE)


def keys() -> tuple[str, ...]:
    """Every UI string's key: what `[widgets.<id>.texts]` may override."""
    return tuple(english()) if (CATALOGS / f"{REFERENCE}.json").is_file() else ()


def placeholders(text: str) -> set[str]:
    return set(PLACEHOLDER.findall(text))


def code_for(language: str) -> str | None:
    """The UI code for the engine's language name; None for "multilingual" or a language without a catalog."""
    code = NAMES.get(language)
    return code if code in languages() else None


def accepted(header: str) -> list[str]:
    """An ``Accept-Language`` header's primary language codes, most wanted first (``q=0`` left out)."""
    ranked: list[tuple[float, int, str]] = []
    for i, part in enumerate(header.split(",")[:20]):
        tag, _, params = part.strip().partition(";")
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                continue
        code = tag.strip().lower().split("-")[0]
        if code and code != "*" and q > 0:
            ranked.append((-q, i, code))
    return [code for _, _, code in sorted(ranked)]


def choose(ui_language: str, language: str, accept_language: str = "") -> str:
    """static/call/i18n.js ``choose``, on the server: ``ui_language``, or (auto) the conversation's language
    when a catalog has it, else the browser's first (its ``Accept-Language``) we have, else English."""
    have = languages()
    if ui_language != "auto" and ui_language in have:
        return ui_language
    spoken = code_for(language)
    if spoken:
        return spoken
    return next((code for code in accepted(accept_language) if code in have), REFERENCE)


def strings_for(code: str, texts: dict[str, str] | None = None) -> dict[str, str]:
    """English, under the catalog of ``code``, under a widget's own texts."""
    merged = dict(english())
    if code != REFERENCE:
        merged.update(catalog(code))
    merged.update(texts or {})
    return merged
