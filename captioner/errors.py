"""Captioner errors.

CaptionerError
  ModelNotFoundError     a model directory or file that should be there is not
  ModelChecksumError     a model file differs from the pinned sha256
  CheckpointError        a checkpoint is there but is not one the engine can use
  CapacityError          every slot of the engine is taken
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


class CheckpointError(CaptionerError):
    pass


class CapacityError(CaptionerError):
    pass
