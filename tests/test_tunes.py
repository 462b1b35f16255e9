"""Procedural training tunes sound like tunes: in one key, mostly stepwise, with repeats."""

import numpy as np

from humsearch.synth.tunes import MAJOR, MINOR, random_tune


def test_tunes_stay_in_key_move_by_steps_and_repeat():
    for seed in range(20):
        notes, beat_s = random_tune(np.random.default_rng(seed))
        pitches = notes[:, 2].astype(int)
        assert 0.35 <= beat_s <= 0.7
        assert np.all(notes[:, 1] > notes[:, 0]) and np.all(np.diff(notes[:, 0]) > 0)
        # some transposition of the major or minor scale holds every note
        assert any(set(pitches % 12) <= {(t + d) % 12 for d in scale} for t in range(12) for scale in (MAJOR, MINOR))
        leaps = np.abs(np.diff(pitches))
        assert np.mean(leaps <= 4) > 0.6  # melodies move mostly by steps and small skips
        # a phrase comes back: some 8-note run appears twice
        runs = [tuple(pitches[i : i + 8]) for i in range(len(pitches) - 8)]
        assert len(set(runs)) < len(runs)


def test_tunes_differ_between_seeds():
    a, _ = random_tune(np.random.default_rng(1))
    b, _ = random_tune(np.random.default_rng(2))
    assert len(a) != len(b) or not np.array_equal(a[:, 2], b[:, 2])
