"""Many SFU nodes on one Redis: rooms pinned to nodes, signaling relayed to a room's owner.

The approach of DESIGN.md's "Scale beyond one machine" (LiveKit's routing, on Redis's own atomic
primitives, never a home-made protocol):

- `config`   `ClusterConfig`, the typed settings of `--redis`, `--node-id`, `--advertise-url`.
- `nodes`    `NodeLoad` (what a node publishes with a short TTL) and `choose_owner`, the pure
             election rule: the receiving node if it is under its limits, else the least loaded.
- `leases`   room ownership as a Redis key `SET NX PX`, renewed and released by compare-and-set
             Lua scripts, so that two nodes can never both own a room.
- `relay`    one client's signaling WebSocket pumped frame by frame to the owner's `/ws`.
- `node`     `ClusterNode`: routes each new connection (local or relayed), renews leases,
             publishes load, drains.

Errors: `ClusterError` (Redis unreachable at start, a bad URL) → `livecaptions` exits with it.
"""

from sfu.cluster.config import ClusterConfig, ClusterError

__all__ = ["ClusterConfig", "ClusterError"]
