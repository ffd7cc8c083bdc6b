"""Who joined and who left a room, told in batches to the participants that asked for them (the
`participants` extension, docs/protocol-notes.md; issue 22).

Without it, each join sends one `participant-joined` frame to everyone already in: a room
filling to 150 sends 11,175 of them. A participant whose `join.features` names "participants"
gets instead one `participants` message per window carrying every change since its last one.
Sans-I/O and synchronous: time is passed in, and the room flushes when `deadline` has passed (or
at once when `full`), sending each batch's message, serialized once, to the batch's recipients.

What a recipient is told follows what it knows. A participant present when the window opened
gets all of the window's changes; one that joined during the window got the room as it was in
its `joined` reply, so it gets only the changes after its own join. In each, a join and a
leave of the same participant cancel out (it never saw them); a leave of someone it knew stays.
Recipients who get the same changes share one batch.
"""

from __future__ import annotations

from dataclasses import dataclass

from protocol import ParticipantInfo, Participants


@dataclass(frozen=True, kw_only=True)
class PresenceConfig:
    """How presence changes are batched."""

    # Seconds a change waits for others to join it in one message: `window`, and longer in a
    # big room, `per_recipient` for each participant taking batches, up to `max_window`. Each
    # window costs one frame per recipient, so a room sends at most 1 / per_recipient presence
    # frames a second (500) however large it is and however fast people join; a join is seen
    # within 50 ms in a room of up to 25, 300 ms in a room of 150 (0: the event loop's next turn).
    window: float = 0.05
    per_recipient: float = 0.002
    max_window: float = 1.0
    # Changes in one window before it is flushed early. 100 entries of the longest name JSON can
    # carry (64 characters escaped as \uXXXX: 384 bytes) and a server id are 42 KB, under the
    # 64 KiB frame limit (tests/sfu/test_presence.py checks it).
    max_changes: int = 100


@dataclass(frozen=True)
class Change:
    joined: bool  # else left
    who: ParticipantInfo


@dataclass(frozen=True)
class Batch:
    """One message, and the participants (ids) it goes to."""

    recipients: tuple[str, ...]
    message: Participants


class Presence:
    """The presence changes of one room's current window, and who has seen which."""

    def __init__(self, config: PresenceConfig | None = None) -> None:
        self.config = config or PresenceConfig()
        self._changes: list[Change] = []
        # Each batching participant: how many of this window's changes it already knows.
        self._known: dict[str, int] = {}
        self.deadline: float | None = None  # when the window's changes must go out

    def joined(self, who: ParticipantInfo, now: float, *, batched: bool) -> None:
        """`who` joined; `batched`: it asked for batches, and learns the room from its `joined`
        reply, so of this window only what comes after."""
        self._change(Change(True, who), now)
        if batched:
            self._known[who.id] = len(self._changes)

    def left(self, who: ParticipantInfo, now: float) -> None:
        self._known.pop(who.id, None)
        self._change(Change(False, who), now)

    def _change(self, change: Change, now: float) -> None:
        if not self._known:
            return  # nobody to tell: a later recipient learns the room from its `joined`
        self._changes.append(change)
        if self.deadline is None:
            self.deadline = now + self.window

    @property
    def window(self) -> float:
        """How long this room's window is now (it grows with the number of recipients)."""
        config = self.config
        scaled = len(self._known) * config.per_recipient
        return min(config.max_window, max(config.window, scaled))

    @property
    def full(self) -> bool:
        return len(self._changes) >= self.config.max_changes

    @property
    def pending(self) -> int:
        """Changes waiting in this window."""
        return len(self._changes)

    def flush(self) -> list[Batch]:
        """The window's messages, and a new window."""
        groups: dict[int, list[str]] = {}
        for participant_id, known in self._known.items():
            groups.setdefault(known, []).append(participant_id)
        batches = []
        for known, recipients in groups.items():
            message = net_changes(self._changes[known:])
            if message.joined or message.left:
                batches.append(Batch(tuple(recipients), message))
        self._changes.clear()
        self._known = dict.fromkeys(self._known, 0)
        self.deadline = None
        return batches

    def holds_join_of(self, recipient_id: str, participant_id: str) -> bool:
        """Whether `recipient_id` takes batches and is yet to be told that `participant_id`
        joined (its join is in the recipient's share of this window, and not cancelled by its
        leave)."""
        known = self._known.get(recipient_id)
        if known is None:
            return False
        return any(p.id == participant_id for p in net_changes(self._changes[known:]).joined)

    def flush_for(self, participant_id: str) -> Participants | None:
        """What is held for one participant, now (before a message that may name someone it
        holds); the others' window goes on. None when nothing is held for it."""
        known = self._known.get(participant_id)
        if known is None or known == len(self._changes):
            return None
        self._known[participant_id] = len(self._changes)
        message = net_changes(self._changes[known:])
        return message if message.joined or message.left else None


def net_changes(changes: list[Change]) -> Participants:
    """What a participant who knew the room as it was before `changes` must be told: joins and
    leaves in order, a join followed by the same participant's leave cancelled (ids are never
    reused, so the reverse cannot happen)."""
    joined: dict[str, ParticipantInfo] = {}
    left: list[ParticipantInfo] = []
    for change in changes:
        if change.joined:
            joined[change.who.id] = change.who
        elif joined.pop(change.who.id, None) is None:
            left.append(change.who)
    return Participants(tuple(joined.values()), tuple(left))
