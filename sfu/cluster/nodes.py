"""What a node publishes about itself, and the election rule for a new room (pure functions)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass


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
    def weight(self) -> tuple[int, float, int, str]:
        # Participants first (they cost the media), then CPU, then rooms; the id breaks ties so
        # that every node ranks the same way.
        return (self.participants, round(self.cpu, 1), self.rooms, self.node_id)


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
