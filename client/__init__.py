"""A reference Python client of protocol v1 (aiortc + websockets): a real WebRTC participant.

Used by the integration tests, the latency benchmark and the load test.
"""

from .audio import WavTrack, load_audio
from .participant import CaptionClient, ReceivedCaption

__all__ = ["CaptionClient", "ReceivedCaption", "WavTrack", "load_audio"]
