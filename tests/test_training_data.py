"""Training material: corpus melodies made monophonic, hums drawn as salience, and training
pairs whose song window holds the hummed passage."""

from pathlib import Path

import numpy as np
import pytest
from scipy.ndimage import median_filter

from humsearch.constants import FRAMES_PER_SECOND, N_PITCH_BINS
from humsearch.melody.features import pitch_bin
from humsearch.training.corpus_tunes import load_tunes, monophonic, save_tunes
from humsearch.training.hums import line_salience
from humsearch.training.train import PairSampler, TrainConfig


def test_monophonic_keeps_the_top_note_and_cuts_overlaps():
    chords = np.array([[0, 2, 60], [0, 2, 67], [1, 3, 64], [3, 4, 62]], dtype=float)
    out = monophonic(chords)
    assert out.tolist() == [[0, 1, 67], [1, 3, 64], [3, 4, 62]]


def test_tunes_round_trip(tmp_path: Path):
    tunes = [np.array([[0, 1, 60], [1, 2, 62]], float), np.array([[0, 0.5, 70]], float)]
    save_tunes(tmp_path / "t.npz", tunes, ["a", "b"])
    back = load_tunes(tmp_path / "t.npz")
    assert len(back) == 2 and all(np.array_equal(a, b) for a, b in zip(tunes, back))


def test_hum_salience_is_one_line_at_the_sung_pitch(rng):
    f0 = np.concatenate([np.full(30, 60.0), np.zeros(10), np.full(30, 64.5)])
    sal = line_salience(f0, rng)
    assert sal.shape == (N_PITCH_BINS, 70)
    peaks = sal.argmax(axis=0)
    voiced = f0 > 0
    assert np.all(np.abs(peaks[voiced] - pitch_bin(f0[voiced])) <= 1)
    assert np.all(sal.max(axis=0)[voiced] >= 0.4) and np.all(sal.max(axis=0)[voiced] <= 0.9)
    assert sal[:, 32:40].max() < 0.3  # silence stays (nearly) dark


# Pitches (semitones above 60) of 2.5 s blocks, repeating every 30 s. Their steps (-7, +5, -3,
# +1, +6, -11, +3, +3, +4, -2, -7, +8) are such that two steps in a row say, within a semitone,
# where in the song a passage is (up to neighbouring places), whatever key it is sung in.
BLOCK_PITCHES = (9, 2, 7, 4, 5, 11, 0, 3, 6, 10, 8, 1)
NOTES_PER_BLOCK = 5


@pytest.fixture
def song_file(tmp_path: Path) -> Path:
    """A salience file as the precompute stage writes it: 60 s of 0.5 s notes in pitch blocks."""
    notes = np.array([[i * 0.5, i * 0.5 + 0.45, 60 + BLOCK_PITCHES[(i // NOTES_PER_BLOCK) % 12]]
                      for i in range(120)], dtype=np.float32)
    f0 = np.zeros(int(60 * FRAMES_PER_SECOND))
    for a, b, p in notes:
        f0[int(a * FRAMES_PER_SECOND) : int(b * FRAMES_PER_SECOND)] = p
    sal = np.round(line_salience(f0, np.random.default_rng(0)) * 255).astype(np.uint8)
    np.savez(tmp_path / "song.npz", sal0=sal, notes0=notes)
    return tmp_path / "song.npz"


def _block_steps(sal: np.ndarray) -> list[float]:
    """Steps (semitones) between the pitch blocks of a salience map, in time order: runs of at
    least 0.8 s of voiced frames whose (median-smoothed) pitch stays within a semitone."""
    voiced = sal.max(axis=0) > 0.3
    pitch = median_filter(sal.argmax(axis=0)[voiced] / 2.0, size=9)
    blocks, start = [], 0
    for i in range(1, len(pitch) + 1):
        if i == len(pitch) or abs(pitch[i] - np.median(pitch[start:i])) > 1.0:
            if i - start >= 20:
                blocks.append(float(np.median(pitch[start:i])))
            start = i
    return list(np.diff(blocks))


def _holds(heard: list[float], hummed: list[float]) -> bool:
    return any(np.all(np.abs(np.array(heard[i : i + len(hummed)]) - hummed) <= 1.0)
               for i in range(len(heard) - len(hummed) + 1))


def test_pairs_hold_the_hummed_passage(song_file: Path):
    """The hum and its song window carry the same passage: the hum's steps between pitch blocks
    (free of key) are found, in order, among the window's."""
    cfg = TrainConfig(pitch_shift_bins=0, song_gain_db=0.0)
    sampler = PairSampler([song_file], cfg, np.random.default_rng(4))
    checked = found = 0
    for _ in range(40):
        pair = sampler.pair(sampler.songs[0], int(8 * FRAMES_PER_SECOND))
        if pair is None:
            continue
        hum, window = pair
        assert hum.shape == (N_PITCH_BINS, 200) and window.shape == (N_PITCH_BINS, 250)
        hummed = _block_steps(hum)
        if len(hummed) < 2:  # the hum crossed fewer than three blocks: says nothing
            continue
        checked += 1
        found += _holds(_block_steps(window), hummed[:2])
    assert checked >= 10
    assert found >= 0.8 * checked, (found, checked)
