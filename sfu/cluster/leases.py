"""Room ownership as Redis leases.

A room's owner is the value of the key `PREFIX:room:NAME`, set with `SET NX PX` (only if absent,
with an expiry): the first node to set it owns the room until the key expires. The owner renews
it; renewal and release are Lua scripts that compare the value first, so a node can only extend
or delete its own lease (https://redis.io/docs/latest/develop/use/patterns/distributed-locks/).
A node that dies stops renewing: its rooms are free again after at most `lease_ms`.
"""

from __future__ import annotations

from typing import Any

# Extend our own lease; if the key vanished (Redis restarted empty, or it expired while Redis
# was out of reach), take it back only if nobody else has: 1 = ours, 0 = someone else's.
RENEW = """
local owner = redis.call('GET', KEYS[1])
if owner == ARGV[1] then
    redis.call('PEXPIRE', KEYS[1], ARGV[2])
    return 1
elseif owner == false then
    redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
    return 1
end
return 0
"""

# Delete the lease only if it is still ours.
RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
    return redis.call('DEL', KEYS[1])
end
return 0
"""


class RoomLeases:
    """The lease operations of one node, over a `redis.asyncio.Redis` client."""

    def __init__(self, redis: Any, *, prefix: str, lease_ms: int) -> None:
        self._redis = redis
        self._prefix = prefix
        self._lease_ms = lease_ms
        self._renew = redis.register_script(RENEW)
        self._release = redis.register_script(RELEASE)

    def key(self, room: str) -> str:
        return f"{self._prefix}:room:{room}"

    async def owner(self, room: str) -> str | None:
        value = await self._redis.get(self.key(room))
        return None if value is None else _text(value)

    async def claim(self, room: str, node_id: str) -> str:
        """Make `node_id` the owner if the room has none; returns the owner either way."""
        key = self.key(room)
        if await self._redis.set(key, node_id, nx=True, px=self._lease_ms):
            return node_id
        value = await self._redis.get(key)
        if value is None:  # expired between the two calls: try once more
            return await self.claim(room, node_id)
        return _text(value)

    async def renew(self, room: str, node_id: str) -> bool:
        """Extend our lease; False when another node owns the room now."""
        return bool(await self._renew(keys=[self.key(room)], args=[node_id, self._lease_ms]))

    async def release(self, room: str, node_id: str) -> None:
        await self._release(keys=[self.key(room)], args=[node_id])


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
