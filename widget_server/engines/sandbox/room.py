"""A sandbox room: who is in it and who hears what, in daily-js event shapes.

    room = Room("c123", max_participants=2)
    member = room.join(user_name="Ada")          # queues {"action": "joined", ...}
    event = await member.next()                  # None once the member is gone
    room.broadcast({"action": "app-message", "data": {...}, "fromId": "..."})
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from typing import Any

from .callbacks import now_iso

Event = dict[str, Any]


class RoomError(Exception):
    """A join refused like daily-js refuses it: ``error_msg`` is its fatal error kind."""

    def __init__(self, error_msg: str, detail: str = "") -> None:
        super().__init__(detail or error_msg)
        self.error_msg = error_msg
        self.detail = detail or error_msg


@dataclass
class Participant:
    user_name: str
    user_id: str
    session_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    owner: bool = False
    audio: bool = True
    video: bool = True
    joined_at: str = field(default_factory=now_iso)

    def view(self, *, local: bool) -> dict[str, Any]:
        return {
            "session_id": self.session_id,
            "user_name": self.user_name,
            "user_id": self.user_id,
            "local": local,
            "owner": self.owner,
            "audio": self.audio,
            "video": self.video,
            "joined_at": self.joined_at,
        }


class Member:
    """One connection to a room; a hidden member (``participant is None``) only listens and sends."""

    def __init__(self, participant: Participant | None) -> None:
        self.participant = participant
        self.id = participant.session_id if participant else "server-" + uuid.uuid4().hex[:8]
        self._queue: asyncio.Queue[Event | None] = asyncio.Queue()
        self.closed = False

    def push(self, event: Event | None) -> None:
        if not self.closed:
            self._queue.put_nowait(event)
            if event is None:
                self.closed = True

    async def next(self) -> Event | None:
        return await self._queue.get()


class Room:
    def __init__(self, name: str, max_participants: int | None = None) -> None:
        self.name = name
        self.max_participants = max_participants
        self.participants: dict[str, Participant] = {}
        self.members: list[Member] = []
        self.closed = False
        self.reserved = 0  # seats kept for participants on their way (the replica)

    @property
    def visitors(self) -> list[Member]:
        return [m for m in self.members if m.participant is not None]

    def add_participant(self, participant: Participant) -> None:
        """A participant without a connection of its own (the synthetic replica)."""
        self.participants[participant.session_id] = participant
        self.reserved = max(0, self.reserved - 1)
        self._announce("participant-joined", participant)

    def join(self, *, user_name: str = "", user_id: str | None = None, hidden: bool = False) -> Member:
        if self.closed:
            raise RoomError("no-room", "The meeting has ended")
        limit = self.max_participants
        if not hidden and limit is not None and len(self.participants) + self.reserved >= limit:
            raise RoomError("meeting-full", "The meeting has reached its maximum number of participants")
        participant = None
        if not hidden:
            participant = Participant(user_name=user_name or "Guest", user_id=user_id or "")
            if not participant.user_id:
                participant.user_id = participant.session_id
        member = Member(participant)
        self.members.append(member)
        if participant is not None:
            self.participants[participant.session_id] = participant
        member.push(
            {
                "action": "joined",
                "participant_id": member.id,
                "participants": [
                    p.view(local=p is participant) for p in self.participants.values()
                ],
            }
        )
        if participant is not None:
            self._announce("participant-joined", participant, skip=member)
        return member

    def update(self, member: Member, *, audio: bool | None = None, video: bool | None = None) -> None:
        participant = member.participant
        if participant is None:
            return
        if audio is not None:
            participant.audio = audio
        if video is not None:
            participant.video = video
        self._announce("participant-updated", participant)

    def leave(self, member: Member, reason: str = "left") -> None:
        if member not in self.members:
            return
        self.members.remove(member)
        member.push({"action": "left-meeting", "reason": reason})
        member.push(None)
        participant = member.participant
        if participant is not None:
            self.participants.pop(participant.session_id, None)
            self._announce("participant-left", participant)

    def broadcast(self, event: Event, skip: Member | None = None) -> None:
        for member in self.members:
            if member is not skip:
                member.push(event)

    def close(self, reason: str = "ended") -> None:
        self.closed = True
        for member in list(self.members):
            member.push({"action": "left-meeting", "reason": reason})
            member.push(None)
        self.members.clear()

    def _announce(self, action: str, participant: Participant, skip: Member | None = None) -> None:
        for member in self.members:
            if member is not skip:
                member.push(
                    {"action": action, "participant": participant.view(local=member.participant is participant)}
                )
