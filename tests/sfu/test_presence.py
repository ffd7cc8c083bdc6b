"""The presence coalescer (sfu/rooms/presence.py): what each participant that takes batches is
told, when, and that its view of the room always ends equal to the room's."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from protocol import ParticipantInfo, Participants
from protocol.signaling import MAX_FRAME_BYTES, parse_server_frame, serialize
from sfu.rooms.presence import Batch, Presence, PresenceConfig


def person(n: int) -> ParticipantInfo:
    return ParticipantInfo(f"p-{n}", f"Person {n}")


def to(batches: list[Batch]) -> dict[str, Participants]:
    return {recipient: b.message for b in batches for recipient in b.recipients}


def test_a_windows_joins_go_out_as_one_message_in_order() -> None:
    presence = Presence(PresenceConfig(window=0.25))
    presence.joined(person(0), 0.0, batched=True)
    assert presence.deadline is None  # nobody to tell
    for n in (1, 2, 3):
        presence.joined(person(n), 0.5 * n, batched=False)
    assert presence.deadline == 0.75  # the first change's time + the window
    (batch,) = presence.flush()
    assert batch == Batch(("p-0",), Participants(joined=(person(1), person(2), person(3))))
    assert presence.deadline is None and presence.pending == 0
    assert presence.flush() == []


def test_the_window_grows_with_the_recipients_so_a_room_sends_at_most_500_frames_a_second() -> None:
    presence = Presence()
    assert presence.window == 0.05
    for n in range(150):
        presence.joined(person(n), 0.0, batched=n % 3 != 0)  # 100 take batches
    assert presence.window == 100 * 0.002  # one frame each per window: 500 a second
    for n in range(150, 1000):
        presence.joined(person(n), 0.0, batched=True)
    assert presence.window == 1.0  # at most


def test_one_who_joins_in_the_window_hears_only_what_came_after_its_join() -> None:
    """Its `joined` listed the room as it was: p-1 is in it, its own join is not news to it."""
    presence = Presence()
    presence.joined(person(0), 0.0, batched=True)
    presence.joined(person(1), 0.0, batched=False)
    presence.joined(person(2), 0.0, batched=True)
    presence.joined(person(3), 0.0, batched=True)
    presence.joined(person(4), 0.0, batched=False)
    batches = presence.flush()
    assert to(batches) == {
        "p-0": Participants(joined=(person(1), person(2), person(3), person(4))),
        "p-2": Participants(joined=(person(3), person(4))),
        "p-3": Participants(joined=(person(4),)),
    }
    assert len(batches) == 3  # one per different content, each serialized once by the room


def test_a_join_and_leave_in_one_window_cancel_out_only_for_those_who_never_saw_the_join() -> None:
    presence = Presence()
    presence.joined(person(0), 0.0, batched=True)
    presence.flush()
    presence.joined(person(1), 1.0, batched=False)
    presence.joined(person(2), 1.0, batched=True)  # its `joined` lists p-1
    presence.left(person(1), 1.01)
    assert to(presence.flush()) == {
        "p-0": Participants(joined=(person(2),)),  # p-1 came and went unseen
        "p-2": Participants(left=(person(1),)),
    }


def test_leaves_of_known_participants_are_told_and_the_gone_are_told_nothing() -> None:
    presence = Presence()
    for n in range(4):
        presence.joined(person(n), 0.0, batched=True)
    presence.flush()
    presence.left(person(3), 1.0)
    presence.left(person(1), 1.0)
    assert to(presence.flush()) == {
        "p-0": Participants(left=(person(3), person(1))),
        "p-2": Participants(left=(person(3), person(1))),
    }


def test_one_participant_may_be_told_early_and_the_window_goes_on_for_the_others() -> None:
    presence = Presence()
    presence.joined(person(0), 0.0, batched=True)
    presence.joined(person(1), 0.0, batched=True)
    presence.joined(person(2), 0.0, batched=True)  # its own join is not held for it
    assert presence.flush_for("p-2") is None
    assert presence.flush_for("p-1") == Participants(joined=(person(2),))
    assert presence.flush_for("p-1") is None
    presence.joined(person(3), 0.0, batched=False)
    assert to(presence.flush()) == {
        "p-0": Participants(joined=(person(1), person(2), person(3))),
        "p-1": Participants(joined=(person(3),)),
        "p-2": Participants(joined=(person(3),)),
    }


def test_whose_join_is_still_held_for_whom() -> None:
    """What decides whether a `participant-media` must wait for a recipient's batch."""
    presence = Presence()
    presence.joined(person(0), 0.0, batched=True)
    presence.joined(person(1), 0.0, batched=False)  # one by one: nothing held for it
    presence.joined(person(2), 0.0, batched=True)
    assert presence.holds_join_of("p-0", "p-2") and presence.holds_join_of("p-0", "p-1")
    assert not presence.holds_join_of("p-1", "p-2")  # told at once, not batched
    assert not presence.holds_join_of("p-2", "p-1")  # listed in its `joined`
    presence.flush_for("p-0")
    assert not presence.holds_join_of("p-0", "p-2")
    presence.joined(person(3), 0.0, batched=False)
    presence.left(person(3), 0.0)
    assert not presence.holds_join_of("p-0", "p-3")  # joined and left: cancelled out
    presence.flush()
    assert not presence.holds_join_of("p-2", "p-3")


def test_a_full_window_says_so() -> None:
    presence = Presence(PresenceConfig(max_changes=3))
    presence.joined(person(0), 0.0, batched=True)
    presence.joined(person(1), 0.0, batched=False)
    presence.joined(person(2), 0.0, batched=False)
    assert not presence.full
    presence.joined(person(3), 0.0, batched=False)
    assert presence.full
    presence.flush()
    assert not presence.full


def test_the_largest_batch_fits_a_frame() -> None:
    """100 entries with the longest names JSON can make of 64 characters (each escaped as
    \\uXXXX) and server ids stay under the 64 KiB frame limit, and parse back."""
    name = "\x01" * 64
    people = tuple(ParticipantInfo(f"p-{n:08x}", name) for n in range(100))
    message = Participants(joined=people[:60], left=people[60:])
    frame = serialize(message)
    assert PresenceConfig().max_changes == 100
    assert len(frame.encode()) < MAX_FRAME_BYTES
    assert parse_server_frame(frame) == message


# --- every view ends equal to the room's --------------------------------------------------------

OPERATIONS = st.lists(
    st.tuples(
        st.sampled_from(["join", "join-batched", "leave", "flush", "flush-one"]),
        st.integers(0, 30),
    ),
    max_size=60,
)


@settings(max_examples=300, deadline=None)
@given(operations=OPERATIONS, max_changes=st.integers(1, 8))
def test_every_batching_view_follows_the_room(
    operations: list[tuple[str, int]], max_changes: int
) -> None:
    """Random joins, leaves and flushes (the room flushes a full window at once): a batching
    participant is never told of a join it knew or a leave of someone it did not know, and
    after the last flush its view is the room's, in join order."""
    presence = Presence(PresenceConfig(max_changes=max_changes))
    room: dict[str, ParticipantInfo] = {}  # the server's, in join order
    views: dict[str, dict[str, ParticipantInfo]] = {}  # each batching participant's others
    serial = 0

    def tell(recipient: str, message: Participants) -> None:
        view = views[recipient]
        assert len(message.joined) + len(message.left) <= max_changes
        for gone in message.left:
            assert view.pop(gone.id) == gone
        for new in message.joined:
            assert new.id not in view and new.id != recipient
            view[new.id] = new

    def flush() -> None:
        for recipient, message in to(presence.flush()).items():
            tell(recipient, message)

    for operation, pick in operations:
        if operation == "flush":
            flush()
        elif operation == "flush-one" and views:  # before an offer to it
            recipient = list(views)[pick % len(views)]
            message = presence.flush_for(recipient)
            if message is not None:
                tell(recipient, message)
        elif operation == "leave" and room:
            gone = list(room.values())[pick % len(room)]
            del room[gone.id]
            views.pop(gone.id, None)
            presence.left(gone, 0.0)
        elif operation.startswith("join"):
            serial += 1
            new, batched = person(serial), operation == "join-batched"
            snapshot = dict(room)  # its `joined` reply
            room[new.id] = new
            presence.joined(new, 0.0, batched=batched)
            if batched:
                views[new.id] = snapshot
        if presence.full:
            flush()
    flush()
    for recipient, view in views.items():
        others = {k: v for k, v in room.items() if k != recipient}
        assert list(view) == [k for k in others if k in view]  # join order kept
        assert view == others
