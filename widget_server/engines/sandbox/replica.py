"""The synthetic replica: greets, answers in a fixed way, and speaks the interactions protocol.

    replica = Replica(room, "c123", "r1", transcript=[], context="On the pricing page.")
    replica.join()                     # participant-joined for everyone in the room
    replica.hear("what does it cost?") # user utterance, then a replica answer
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from .callbacks import now_iso
from .room import Participant, Room

DEFAULT_GREETING = "Hi! I'm the sandbox replica. How can I help you today?"
DYNAMIC_GREETING = "Hello there! Welcome, it's good to see you. What brings you here today?"
TOOL_TRIGGER = "pricing"
# What the replica acts on; any other conversation event is relayed into the room (send-app-message).
ACTED_ON = ("conversation.respond", "conversation.echo", "conversation.interrupt",
            "conversation.overwrite_llm_context", "conversation.append_llm_context",
            "conversation.sensitivity", "conversation.set_emotion", "conversation.tool_result")
EMOTIONS = ("neutral", "happiness", "sadness", "anger", "fear", "surprise", "disgust", "contempt")


def answer_for(text: str, context: str | None) -> str:
    heard = " ".join(text.split())
    if len(heard) > 60:
        heard = heard[:57] + "..."
    answer = f'You said: "{heard}". Tell me more.'
    if context:
        answer += f" (Context: {' '.join(context.split())[:80]})"
    return answer


class Replica:
    def __init__(
        self,
        room: Room,
        conversation_id: str,
        replica_id: str,
        *,
        transcript: list[dict[str, Any]],
        context: str | None = None,
        greeting: str | None = None,
        dynamic_greeting: bool = False,
        captions: bool = False,
        speech_s: float = 0.0,
        audio_only: bool = False,
    ) -> None:
        self.room = room
        self.conversation_id = conversation_id
        self.participant = Participant(
            user_name="Replica", user_id=f"tavus-replica-{replica_id}"[:36], video=not audio_only
        )
        self.transcript = transcript
        self.context = context
        # enable_dynamic_greeting: "the LLM writes the opening line" (here, a fixed stand-in for one)
        self.greeting = DYNAMIC_GREETING if dynamic_greeting else greeting or DEFAULT_GREETING
        self._started = time.monotonic()
        self.captions = captions
        self.speech_s = speech_s
        self.sensitivity: dict[str, Any] = {}
        self.emotion = "neutral"
        self.pending: list[Any] = []  # sent before the replica joined: acted on when it does
        self.present = False
        self.greeted = False
        self._speaking = False
        self._lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[None]] = set()

    def join(self) -> None:
        self.present = True
        self.room.add_participant(self.participant)
        if self.room.visitors:
            self.greet()
        pending, self.pending = self.pending, []
        for message in pending:
            self.handle(message, "server")

    def greet(self) -> None:
        if self.present and not self.greeted:
            self.greeted = True
            self.say(self.greeting)

    def hear(self, text: str, *, spoken: bool = True, from_id: str | None = None) -> None:
        """The visitor said ``text`` (``spoken=False``: it came as ``conversation.respond``)."""
        text = text.strip()
        if not text:
            return
        if spoken:
            self._emit("conversation.started_speaking", {"role": "user"})
            self._emit("conversation.stopped_speaking", {"role": "user"})
            self._emit("conversation.utterance", {"role": "user", "speech": text})
            self._caption(from_id or "", text)
        self.note("user", text)
        if not self.present:
            return
        if TOOL_TRIGGER in text.lower():
            arguments = json.dumps({"page": "pricing"})
            self._emit("conversation.tool_call", {"name": "open_page", "arguments": arguments})
        self.say(answer_for(text, self.context))

    def say(self, text: str) -> None:
        if not self.present:
            return
        self.note("assistant", text, self.speech_s)
        task = asyncio.create_task(self._speak(text))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def note(self, role: str, content: str, duration: float = 0.0) -> None:
        """One transcript entry, in the verbose GET's current shape."""
        self.transcript.append({"role": role, "content": content, "timestamp": now_iso(),
                                "seconds_from_start": round(time.monotonic() - self._started, 3),
                                "duration": round(duration, 3)})

    def handle(self, message: Any, from_id: str) -> None:
        """An interactions-protocol message sent into the room."""
        if not isinstance(message, dict) or message.get("message_type") != "conversation":
            return
        if not self.present:
            self.pending.append(message)
            return
        props = message.get("properties")
        props = props if isinstance(props, dict) else {}
        text = props.get("text")
        context = props.get("context")
        match message.get("event_type"):
            case "conversation.respond" if isinstance(text, str):
                self.hear(text, spoken=False)
            case "conversation.echo" if isinstance(text, str):
                self.say(text)
            case "conversation.interrupt":
                self.interrupt()
            case "conversation.overwrite_llm_context" if isinstance(context, str):
                self.context = context
            case "conversation.append_llm_context" if isinstance(context, str):
                self.context = f"{self.context} {context}" if self.context else context
            case "conversation.sensitivity":
                self.sensitivity = props
            case "conversation.set_emotion" if props.get("emotion") in EMOTIONS:
                self.emotion = str(props["emotion"])
            case "conversation.tool_result":
                result = props.get("result")
                content = result if isinstance(result, str) else json.dumps(result)
                self.note("tool", content)
                self.say(f"The tool answered: {' '.join(content.split())[:80]}")

    def interrupt(self) -> None:
        was_speaking = self._speaking
        self.stop()
        if was_speaking:
            self._emit("conversation.replica_interrupted", {})
            self._emit("conversation.stopped_speaking", {"role": "replica"})

    def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        self._speaking = False

    async def _speak(self, text: str) -> None:
        async with self._lock:
            self._speaking = True
            self._emit("conversation.started_speaking", {"role": "replica"})
            self._emit("conversation.utterance", {"role": "replica", "speech": text})
            self._caption(self.participant.session_id, text)
            try:
                await asyncio.sleep(self.speech_s)
            finally:
                self._speaking = False
            self._emit("conversation.stopped_speaking", {"role": "replica"})

    def _emit(self, event_type: str, properties: dict[str, Any]) -> None:
        data = {
            "message_type": "conversation",
            "event_type": event_type,
            "conversation_id": self.conversation_id,
            "properties": properties,
        }
        self.room.broadcast({"action": "app-message", "data": data, "fromId": self.participant.session_id})

    def _caption(self, participant_id: str, text: str) -> None:
        if self.captions:
            self.room.broadcast(
                {"action": "transcription-message", "participantId": participant_id,
                 "text": text, "timestamp": now_iso()}
            )
