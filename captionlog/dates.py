"""Dates as reviewers give them: YYYY-MM-DD, a day in UTC."""

from __future__ import annotations

import calendar
import re
import time

DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
DAY_SECONDS = 86400


def utc_day(value: str, *, end: bool = False) -> float:
    """Unix time of the day's start (of the next day's start for `end`, an exclusive bound);
    ValueError when `value` is not a date YYYY-MM-DD."""
    if not DATE.fullmatch(value):
        raise ValueError(f"{value!r} is not a date YYYY-MM-DD")
    return calendar.timegm(time.strptime(value, "%Y-%m-%d")) + (DAY_SECONDS if end else 0)
