"""Give memory back to the system once the server is idle.

What keeps RSS up after load, measured with scripts/soak.py: aiortc peers, transports and their
queues live in reference cycles (event-emitter callbacks that refer to their owner), which only a
full collection frees; and glibc keeps freed heap pages in its arenas (one per thread that ever
allocated: the inference, log and asyncio.to_thread threads) instead of returning them. When the
last room closes, a full collection and `malloc_trim(0)` (glibc only; a no-op elsewhere) hand the
memory back. Both run off the event loop.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import logging
from collections.abc import Callable

logger = logging.getLogger(__name__)


def _malloc_trim() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        return ctypes.CDLL(name).malloc_trim  # type: ignore[no-any-return]
    except (OSError, AttributeError):  # not glibc
        return None


def release() -> bool:
    """Collect reference cycles, then return free heap pages to the OS; True if trimmed."""
    gc.collect()
    trim = _malloc_trim()
    return bool(trim is not None and trim(0))
