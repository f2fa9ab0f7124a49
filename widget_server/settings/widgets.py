"""A widget's settings (``[widgets.ID]`` and its sub-tables), each key declared once on its field."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from widget_server import i18n
from widget_server.config_registry import Reader, boolean, choice, integer, string, strings, table, texts
from widget_server.origins import OriginPattern, parse_origin_pattern
from widget_server.settings.forms import (
    POSITIONS,
    colour,
    colour_or_empty,
    colour_or_image,
    font_stack,
    language,
    url_or_empty,
)
from widget_server.settings.recording import RecordingStorage, storage_problems

OVERRIDABLE = ("conversational_context", "custom_greeting", "language", "user_name")
PAGE_MESSAGES = ("conversation.respond", "conversation.echo", "conversation.interrupt",
                 "conversation.overwrite_llm_context", "conversation.append_llm_context",
                 "conversation.set_emotion", "conversation.tool_result")


@dataclass(frozen=True)
class Limits:
    max_concurrent: int = integer(3, 1, 10_000, "live conversations at once, across instances")
    per_ip_per_hour: int = integer(10, 0, 1_000_000, "browser creates per client address per hour; 0: no limit")
    minutes_per_day: int = integer(600, 0, 10_000_000, "conversation minutes per UTC day; 0: no limit")


@dataclass(frozen=True)
class Queue:
    enabled: bool = boolean(True, "a visitor finding every slot busy waits in line instead of a refusal")
    max_length: int = integer(20, 1, 10_000, "visitors in line at most; past it: 503 queue-full")
    max_wait_s: int = integer(600, 10, 86_400, "seconds in line before the ticket expires")
    turn_window_s: int = integer(30, 5, 600, "seconds to confirm the visitor is there once it is their turn")


@dataclass(frozen=True)
class Theme:
    scheme: str = choice("auto", ("auto", "light", "dark"), "light or dark; auto: the visitor's system setting")
    accent: str = string("#4f46e5", "accent colour", parse=colour)
    accent_text: str = string("#ffffff", "text on the accent", parse=colour)
    background: str = string("", "panel background; empty: the scheme's", parse=colour_or_empty)
    base_text: str = string("", "text colour; empty: the scheme's", parse=colour_or_empty)
    radius: int = integer(16, 0, 32, "corner radius of the panel in px (controls follow it)")
    font: str = string("", "a CSS font stack; empty: the system's", max_len=200, parse=font_stack)
    header_title: str = string("", "the panel header's title; empty: display_name", max_len=80)
    launcher_label: str = string("", "the launcher's label; empty: the catalog's, in the visitor's language",
                                 max_len=60)
    launcher_style: str = choice("pill", ("pill", "round"), "a pill with icon and label, or a round button")
    launcher_icon: str = choice("video", ("video", "chat", "wave", "avatar"), "the launcher's icon")
    launcher_position: str = choice("bottom-right", POSITIONS, "the launcher bubble's corner")


# Each theme colour with the colour it must stay readable on (WCAG AA), for check-config.
CONTRAST_PAIRS = (("base_text", "background"), ("accent_text", "accent"))
SCHEMES = {"dark": {"background": "#111827", "base_text": "#f9fafb"},
           "light": {"background": "#ffffff", "base_text": "#111827"}}


@dataclass(frozen=True)
class Teaser:
    text: str = string("", "a proactive line beside the launcher; empty: none", max_len=140)
    delay_s: int = integer(8, 0, 3600, "seconds after the page loads before the teaser shows")


@dataclass(frozen=True)
class Overrides:
    allow: tuple[str, ...] = strings((), "what an embedding page may set per visitor", options=OVERRIDABLE)
    max_chars: int = integer(2000, 1, 100_000, "longest accepted override value")


@dataclass(frozen=True)
class Recording:
    s3_bucket: str = string("", "S3 bucket of the recordings", max_len=200)
    s3_region: str = string("", "its region", max_len=50)
    role_arn: str = string("", "the role the engine assumes to write there", max_len=300)


@dataclass(frozen=True)
class EndedCta:
    label: str = string("", "the next step's button text", max_len=60)
    url: str = string("", "where the next step goes", max_len=2000, parse=url_or_empty)


@dataclass(frozen=True)
class WidgetSettings:
    id: str
    allowed_origins: tuple[OriginPattern, ...] = strings((), "sites that may embed the widget",
                                                         parse=parse_origin_pattern)
    persona_id: str = string("", "the engine persona", max_len=200)
    replica_id: str = string("", "the replica (face)", max_len=200)
    conversation_name: str = string("", "label at the engine; empty: widget <id>", max_len=200)
    conversational_context: str = string("", "appended to the persona's context")
    custom_greeting: str = string("", "spoken once when the visitor joins", max_len=2000)
    enable_dynamic_greeting: bool = boolean(False, "the engine's LLM writes the opening line instead")
    language: str = string("english", "lower-case language name", max_len=40, parse=language)
    audio_only: bool = boolean(False, "voice only, no replica video")
    max_call_duration: int = integer(600, 1, 3600, "seconds before the engine ends the call")
    participant_left_timeout: int = integer(10, 0, 3600, "seconds after the visitor leaves")
    participant_absent_timeout: int = integer(60, 1, 3600, "seconds for somebody to join")
    enable_closed_captions: bool = boolean(True, "captions in the call UI")
    apply_greenscreen: bool = boolean(False, "render the replica on green")
    background: str = string("#0b1020", "colour, image or blur behind a green-screened replica", max_len=2000,
                             parse=colour_or_image)
    enable_recording: bool = boolean(False, "allow recording")
    recording: Recording = table(Recording, "the S3 target of recordings")
    recording_storage: RecordingStorage = table(RecordingStorage, "where recordings go: S3, GCS or Azure")
    private: bool = boolean(True, "a meeting token is required to join")
    max_participants: int = integer(2, 2, 100, "participants in the room, the replica included")
    ui: str = choice("prebuilt", ("prebuilt", "custom"), "Daily Prebuilt or the kit's own call UI")
    display_name: str = string("", "the replica's name in the lobby and call; empty: the launcher label", max_len=80)
    avatar_url: str = string("", "the replica's picture in the lobby", max_len=2000, parse=url_or_empty)
    allow_voice_only: bool = boolean(True, "the lobby offers joining with the camera off")
    allow_text_only: bool = boolean(True, "the lobby offers typing instead of talking")
    consent_text: str = string("", "a statement the visitor must tick before Join", max_len=2000)
    consent_url: str = string("", "a link shown with consent_text", max_len=2000, parse=url_or_empty)
    skip_lobby: bool = boolean(False, "a visitor whose camera and microphone are granted joins at once")
    collect_rating: bool = boolean(False, "the ended screen asks for a rating")
    ended_cta: EndedCta = table(EndedCta, "a next step offered on the ended screen")
    proof_of_work: int = integer(0, 0, 24, "bits of the puzzle before a browser create; 0: off")
    page_messages: tuple[str, ...] = strings((), "messages a host page may send into the room", options=PAGE_MESSAGES)
    record_events: bool = boolean(False, "the server joins the room to record its events")
    limits: Limits = table(Limits, "how much the widget may be used")
    queue: Queue = table(Queue, "the waiting line when every slot is busy")
    theme: Theme = table(Theme, "colours and the launcher")
    teaser: Teaser = table(Teaser, "a proactive bubble beside the launcher")
    ui_language: str = choice("auto", ("auto", *i18n.languages()),
                              "the UI's language; auto: the conversation's, else the browser's")
    texts: tuple[tuple[str, str], ...] = texts("replacements for any UI string, by catalog key", keys=i18n.keys())
    overrides: Overrides = table(Overrides, "what an embedding page may set")


def read_widget(r: Reader, wid: str, raw: dict[str, Any]) -> WidgetSettings:
    widget = WidgetSettings(id=wid, **r.read(WidgetSettings, raw, f"widgets.{wid}"))
    if not widget.persona_id and not widget.replica_id:
        r.problems.append(f"widgets.{wid}: needs persona_id or replica_id (or both), got neither")
    if bool(widget.ended_cta.label) != bool(widget.ended_cta.url):
        r.problems.append(f"widgets.{wid}.ended_cta: needs both label and url, got "
                          f"{'label' if widget.ended_cta.label else 'url'} only")
    flat = bool(widget.recording.s3_bucket or widget.recording.role_arn)
    r.problems += storage_problems(widget.recording_storage, f"widgets.{wid}.recording_storage",
                                   widget.enable_recording, flat)
    english = i18n.english()
    for key, text in widget.texts:
        extra = i18n.placeholders(text) - i18n.placeholders(english[key])
        if extra:
            r.problems.append(f"widgets.{wid}.texts.{key}: unknown placeholder {{{sorted(extra)[0]}}}, "
                              f"got {text!r} (the English text is {english[key]!r})")
    if widget.consent_url and not widget.consent_text:
        r.problems.append(f"widgets.{wid}.consent_url: needs consent_text, got no consent_text")
    return widget

