"""Captioner errors.

CaptionerError
  ModelNotFoundError     a model directory or file that should be there is not
  ModelChecksumError     a model file differs from the pinned sha256
  StreamError            an operation on a stream that is unknown or already open
"""


class CaptionerError(Exception):
    """Root of the captioner's errors."""


class ModelNotFoundError(CaptionerError):
    pass


class ModelChecksumError(CaptionerError):
    pass


class StreamError(CaptionerError):
    pass
