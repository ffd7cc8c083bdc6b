"""Give memory back to the system once the server is idle.

What keeps RSS up after load: glibc keeps freed heap pages in its arenas (one per thread that ever
allocated: the inference, log and asyncio.to_thread threads) instead of returning them. Measured on
the Whisper engine alone (3 streams of 11 s, 3 rounds): 160 MB loaded, 280 MB after inference and
still 280 MB after a full collection, 202 MB after `malloc_trim(0)`. aiortc peers live in reference
cycles (event-emitter callbacks that refer to their owner), which only a full collection frees.
So once no room is open and the engine has finished the last stream, a full collection and
`malloc_trim(0)` (glibc only; a no-op elsewhere) hand that memory back, off the event loop.
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
        return ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError):  # not glibc
        return None


def release() -> bool:
    """Collect reference cycles, then return free heap pages to the OS; True if trimmed."""
    gc.collect()
    trim = _malloc_trim()
    return bool(trim is not None and trim(0))
