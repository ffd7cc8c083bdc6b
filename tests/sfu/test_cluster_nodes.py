"""The election rule for a new room (pure: no Redis)."""

from sfu.cluster.nodes import NodeLoad, choose_owner


def load(node_id: str, **kwargs: object) -> NodeLoad:
    values: dict[str, object] = dict(
        node_id=node_id,
        url=f"ws://{node_id}/ws",
        rooms=0,
        participants=0,
        streams=0,
        cpu=0.1,
        max_rooms=10,
    )
    return NodeLoad(**(values | kwargs))  # type: ignore[arg-type]


def test_the_receiving_node_keeps_a_room_while_under_its_limits() -> None:
    me = load("a", participants=50)
    assert choose_owner(me, [me, load("b")], 0.9) is me


def test_a_full_busy_or_draining_node_hands_the_room_to_the_least_loaded() -> None:
    others = [load("b", participants=8), load("c", participants=3), load("d", draining=True)]
    for me in (load("a", rooms=10), load("a", cpu=0.95), load("a", draining=True)):
        chosen = choose_owner(me, [me, *others], 0.9)
        assert chosen is not None and chosen.node_id == "c"


def test_busy_nodes_still_take_rooms_but_full_or_draining_ones_never() -> None:
    me = load("a", cpu=0.99, participants=9)
    chosen = choose_owner(me, [load("b", cpu=0.97, participants=2)], 0.9)
    assert chosen is not None and chosen.node_id == "b"
    assert choose_owner(load("a", draining=True), [load("b", rooms=10)], 0.9) is None


def test_loads_travel_as_json() -> None:
    original = load("a", rooms=2, participants=5, streams=2, cpu=0.5, draining=True)
    assert NodeLoad.from_json(original.to_json()) == original


def test_a_big_room_weighs_its_forwarding() -> None:
    """One 150-person room with three speakers forwards ~22,000 packets a second: placement
    sends the next room to the node of many small rooms with as many participants."""
    big = load("big", participants=150, forwarded_per_second=3 * 149 * 50.0)
    small = load("small", participants=150, rooms=5, forwarded_per_second=5 * 29 * 50.0)
    assert big.forwarded_streams == 447
    chosen = choose_owner(load("me", rooms=10), [big, small], 0.9)
    assert chosen is not None and chosen.node_id == "small"
    assert NodeLoad.from_json(big.to_json()) == big
    old = big.to_json().replace(', "forwarded_per_second": 22350.0', "")
    assert NodeLoad.from_json(old).forwarded_per_second == 0.0  # from a node of before
