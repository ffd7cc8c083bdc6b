"""A synthetic camera: small VP8-encodable video frames at a steady rate, for tests and benches.

aiortc's sender encodes each frame (VP8 by default); the picture changes every frame (a bar moves
across it) so that the encoder emits real inter frames, not only skipped ones.
"""

from __future__ import annotations

import numpy as np
from aiortc import VideoStreamTrack
from av import VideoFrame

WIDTH, HEIGHT = 160, 120


class SyntheticCamera(VideoStreamTrack):
    """A 160x120 picture with a bar moving across it, at aiortc's default 30 frames a second."""

    def __init__(self, *, width: int = WIDTH, height: int = HEIGHT) -> None:
        super().__init__()
        self._width, self._height = width, height
        self._count = 0

    async def recv(self) -> VideoFrame:
        pts, time_base = await self.next_timestamp()
        image = np.full((self._height, self._width, 3), 64, np.uint8)
        column = self._count % self._width
        image[:, column : column + 8] = 255
        self._count += 1
        frame = VideoFrame.from_ndarray(image, format="bgr24")
        frame.pts, frame.time_base = pts, time_base
        return frame
