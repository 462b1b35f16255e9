"""Times as the CLI and the app show them."""

from __future__ import annotations

from pathlib import Path

import pytest

from humsearch.display import clock

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    "seconds, shown",
    [
        (0, "0:00"),
        (0.49, "0:00"),
        (14.4, "0:14"),
        (14.5, "0:15"),  # halves go up (round() would give 0:14)
        (14.6, "0:15"),  # rounded, not floored
        (15.5, "0:16"),
        (59.5, "1:00"),
        (125, "2:05"),
        (599.9, "10:00"),
        (3599.4, "59:59"),
        (3599.5, "1:00:00"),
        (3725.2, "1:02:05"),
        (-0.2, "0:00"),
        (-14.6, "-0:15"),
    ],
)
def test_clock_rounds_to_the_nearest_second(seconds: float, shown: str) -> None:
    assert clock(seconds) == shown


def test_cli_and_app_use_the_one_formatter() -> None:
    import cli

    assert cli.clock is clock
    # Importing the app would run it (tests/test_app.py does that): its source must import the same one.
    app = (ROOT / "streamlit_app.py").read_text()
    assert "from humsearch.display import clock" in app and "def clock" not in app
