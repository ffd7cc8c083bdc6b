"""What a node publishes about itself, and the election rule for a new room (pure functions)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

PACKETS_PER_STREAM = 50  # one forwarded Opus stream: 20 ms packets


@dataclass(frozen=True, kw_only=True)
class NodeLoad:
    node_id: str
    url: str  # the node's /ws, where other nodes relay signaling
    rooms: int
    participants: int
    streams: int  # caption streams served
    cpu: float  # fraction of one core used by the process since the last report
    max_rooms: int
    draining: bool = False
    # Audio packets forwarded per second since the last report: one 150-person room with three
    # speakers forwards ~22,000, as much as ~150 small rooms (absent from older nodes: 0).
    forwarded_per_second: float = 0.0

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str | bytes) -> NodeLoad:
        return cls(**json.loads(text))

    @property
    def open_to_rooms(self) -> bool:
        """Hard limits: a draining or full node never gets a new room."""
        return not self.draining and self.rooms < self.max_rooms

    def has_room_for_more(self, cpu_limit: float) -> bool:
        return self.open_to_rooms and self.cpu < cpu_limit

    @property
    def forwarded_streams(self) -> int:
        """The forwarding work, in streams of 50 packets a second."""
        return round(self.forwarded_per_second / PACKETS_PER_STREAM)

    @property
    def weight(self) -> tuple[int, float, int, str]:
        # Media first: participants and the streams forwarded to them (a big room's forwarding
        # grows with its subscribers times its speakers, so a big room weighs as big), then CPU,
        # then rooms; the id breaks ties so that every node ranks the same way.
        media = self.participants + self.forwarded_streams
        return (media, round(self.cpu, 1), self.rooms, self.node_id)


def choose_owner(me: NodeLoad, live: list[NodeLoad], cpu_limit: float) -> NodeLoad | None:
    """The node a new room should live on: this one if it is under its limits, else the least
    loaded live node (a busy CPU only ranks a node lower: a busy node beats no meeting); None
    when every node is full or draining."""
    if me.has_room_for_more(cpu_limit):
        return me
    others = {n.node_id: n for n in live if n.node_id != me.node_id}
    candidates = [n for n in (me, *others.values()) if n.open_to_rooms]
    under = [n for n in candidates if n.cpu < cpu_limit]
    return min(under or candidates, key=lambda n: n.weight, default=None)
