"""Numbers as people read them, shared by the command line and the app."""

from __future__ import annotations

import math


def clock(seconds: float) -> str:
    """A time as m:ss (h:mm:ss from one hour on), rounded to the nearest second, halves up.

    Both the CLI and the app show match times and time left with it, so the same moment reads
    the same everywhere: clock(14.6) == "0:15", clock(125) == "2:05", clock(3725) == "1:02:05".
    """
    total = math.floor(abs(seconds) + 0.5)
    sign = "-" if seconds < 0 and total else ""
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{sign}{hours}:{minutes:02d}:{secs:02d}" if hours else f"{sign}{minutes}:{secs:02d}"
