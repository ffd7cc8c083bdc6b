"""Streaming speech-to-text for rooms: engines, the batching scheduler, caption assembly.

It knows nothing of WebRTC: it takes timestamped PCM streams (24 kHz mono float32 on a room clock)
and gives caption events.
"""
