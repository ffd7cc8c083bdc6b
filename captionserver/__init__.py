"""`livecaptions-captioner`: our engines behind Kyutai's streaming-ASR protocol (ASR-PROTOCOL.md).

Imports `captioner/` (engines, scheduler) and `asr/` (the protocol), never anything of `sfu/`.
"""
