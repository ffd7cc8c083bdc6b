"""Caption-log errors.

LogError          the store cannot be opened, migrated or written
  NotFound        a session that does not exist (or no longer does)
  BadQuery        a reviewer's request that cannot be answered as asked
"""


class LogError(Exception):
    """Root of the caption log's errors."""


class NotFound(LogError):
    pass


class BadQuery(LogError):
    pass
