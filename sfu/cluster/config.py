"""Cluster settings: one frozen value, passed in."""

from __future__ import annotations

from dataclasses import dataclass

# What a node says when the cluster extras are missing (the `redis` client is an optional extra).
MISSING_EXTRAS = (
    "{what} needs the cluster extras ({missing!r} is not installed): run "
    "scripts/bootstrap.sh cluster (or pip install -e '.[cluster]')"
)


class ClusterError(Exception):
    """The cluster cannot be joined: Redis unreachable or misconfigured, a bad node setting."""


@dataclass(frozen=True, kw_only=True)
class ClusterConfig:
    redis_url: str  # redis://HOST:PORT/DB
    node_id: str
    advertise_url: str | None = None  # ws://HOST:PORT/ws other nodes relay to; None: our own
    key_prefix: str = "livecaptions"  # several clusters may share one Redis
    # A dead owner's room is free again after at most lease_ms (the bound is 10 s).
    lease_ms: int = 6000
    renew_every: float = 2.0  # seconds; well under lease_ms so one slow renewal loses nothing
    load_ttl_ms: int = 6000  # a node that stops publishing is dead for elections after this
    publish_every: float = 2.0
    redis_timeout: float = 2.0  # seconds a Redis call may take before it counts as unreachable
    relay_timeout: float = 10.0  # seconds to open a relay to the owner's /ws
    cpu_limit: float = 0.9  # of one core: above it, a node sends new rooms elsewhere
    drain_timeout: float = 600.0  # seconds a SIGTERM'd node waits for its rooms to empty

    def __post_init__(self) -> None:
        if not self.redis_url.startswith(("redis://", "rediss://", "unix://")):
            raise ClusterError(f"--redis must be a redis:// URL, not {self.redis_url!r}")
        if not self.node_id or len(self.node_id) > 64:
            raise ClusterError("--node-id must be 1 to 64 characters")
        if self.renew_every * 1000 >= self.lease_ms:
            raise ClusterError("leases must be renewed more often than they last")
