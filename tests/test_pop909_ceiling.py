"""benchmarks/pop909_ceiling.py: ranking every song by alignment cost alone."""

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import pop909_ceiling  # noqa: E402


def _tune(seed: int, steps: int = 120) -> np.ndarray:
    notes = np.random.default_rng(seed).integers(30, 50, steps // 4)
    return np.repeat(notes, 4).astype(np.uint8)  # four steps a note


def test_the_song_a_hum_imitates_ranks_first_and_a_missing_answer_has_no_rank():
    songs = {f"pop909-{i:03d}": _tune(i) for i in range(1, 5)}
    hum = (songs["pop909-003"][40:100] + 2).astype(np.uint8)  # a passage, two semitones up
    queries = {"003-0": ("pop909-003", hum), "999-0": ("pop909-999", hum)}
    ranks = pop909_ceiling.rank_all(queries, songs, workers=1)
    assert ranks == [(0, 0), None]  # query order is sorted by id


def test_a_song_that_holds_the_hum_less_well_ranks_below_those_that_hold_it():
    songs = {f"pop909-{i:03d}": _tune(i) for i in range(1, 5)}
    hum = songs["pop909-002"][20:80].copy()
    songs["pop909-004"] = songs["pop909-002"].copy()  # same tune, one wrong note in the passage
    songs["pop909-004"][40:44] += 5
    ranks = pop909_ceiling.rank_all({"004-0": ("pop909-004", hum)}, songs, workers=1)
    assert ranks == [(1, 0)]  # 002 holds it exactly


def test_sung_pitch_becomes_one_contour_value_per_step_where_most_of_it_is_voiced():
    from humsearch.constants import PITCH_MIDI_LOW
    from humsearch.melody.contour import CONTOUR_HOP

    frames = np.repeat([0.0, 60.2, 62.0], CONTOUR_HOP).astype(np.float32)
    frames[-1] = 0.0  # the last step is only half voiced
    contour = pop909_ceiling.sung_contour(frames)
    assert contour.tolist() == [0, 60 - PITCH_MIDI_LOW + 1, 0]
