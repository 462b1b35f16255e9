"""benchmarks/contour_oracle.py: error counts and repairs of a song contour against its MIDI."""

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import contour_oracle  # noqa: E402


def test_reference_is_shifted_to_where_it_agrees_with_the_model():
    midi = np.array([0, 0, 10, 12, 14, 15, 17, 0], np.uint8)
    model = np.concatenate([[0, 0, 0], midi[:-3]]).astype(np.uint8)  # the rendering starts 3 steps late
    ref = contour_oracle.reference_in_song_time(model, midi)
    assert ref.tolist() == model.tolist()


def test_each_kind_of_error_is_counted_and_repaired_alone():
    ref = np.array([0, 20, 20, 22, 22, 24, 24, 0], np.uint8)
    model = np.array([[9, 20, 0, 22, 27, 24, 36, 0],  # false alarm, miss, wrong pitch, octave (forgiven)
                      [5, 0, 0, 0, 22, 0, 0, 0]], np.uint8)
    rates, fixed = contour_oracle.repairs(model, ref)
    assert rates["false_alarm"] == 1 / 8 and rates["miss"] == 1 / 8
    assert rates["wrong_pitch"] == 1 / 5  # of the five steps voiced on both sides
    assert fixed["false_alarms"][0].tolist() == [0, 20, 0, 22, 27, 24, 36, 0]
    assert fixed["misses"][0].tolist() == [9, 20, 20, 22, 27, 24, 36, 0]
    assert fixed["wrong_pitches"][0].tolist() == [9, 20, 0, 22, 22, 24, 36, 0]
    assert fixed["all"][0].tolist() == [0, 20, 20, 22, 22, 24, 36, 0]
    assert fixed["false_alarms"][:, 0].tolist() == fixed["all"][:, 0].tolist() == [0, 0]  # every row emptied
    assert fixed["all"][1].tolist() == [0, 0, 0, 0, 22, 0, 0, 0]  # second rows are left alone where there is melody
    assert model[0].tolist() == [9, 20, 0, 22, 27, 24, 36, 0]  # the input is not modified
