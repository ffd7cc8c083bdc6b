"""Errors of the ASR protocol package.

AsrError
├── AsrProtocolError   a frame that is not a valid message (the peer's fault)
└── AsrStateError      a call the session's state does not allow (our fault)
"""

from __future__ import annotations


class AsrError(Exception):
    """Root of this package's errors."""


class AsrProtocolError(AsrError):
    """A frame that is not a valid message of ASR-PROTOCOL.md; the text says what is wrong."""


class AsrStateError(AsrError):
    """An operation the session's current state does not allow."""
