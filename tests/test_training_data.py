"""Training material: corpus melodies made monophonic, hums drawn as salience, and training
pairs whose song window holds the hummed passage."""

from pathlib import Path

import numpy as np
import pytest

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


@pytest.fixture
def song_file(tmp_path: Path) -> Path:
    """A salience file as the precompute stage writes it: a rising-falling scale, 30 s."""
    notes = np.array([[i * 0.5, i * 0.5 + 0.45, 60 + (i % 12)] for i in range(60)], dtype=np.float32)
    frames = int(30 * FRAMES_PER_SECOND)
    f0 = np.zeros(frames)
    for a, b, p in notes:
        f0[int(a * FRAMES_PER_SECOND) : int(b * FRAMES_PER_SECOND)] = p
    sal = np.round(line_salience(f0, np.random.default_rng(0)) * 255).astype(np.uint8)
    np.savez(tmp_path / "song.npz", sal0=sal, notes0=notes)
    return tmp_path / "song.npz"


def test_pairs_hold_the_hummed_passage(song_file: Path):
    """The hum and its song window carry the same tune: their pitch-class sequences match once
    the hum is shifted to the song's key (every note of this song is distinct mod 12)."""
    cfg = TrainConfig(pitch_shift_bins=0, song_gain_db=0.0)
    sampler = PairSampler([song_file], cfg, np.random.default_rng(4))
    checked = 0
    for _ in range(10):
        pair = sampler.pair(sampler.songs[0], int(5 * FRAMES_PER_SECOND))
        if pair is None:
            continue
        hum, window = pair
        assert hum.shape == (N_PITCH_BINS, 125) and window.shape == (N_PITCH_BINS, 250)
        hum_pcs = [p for p in (hum.argmax(0)[hum.max(0) > 0.3] // 2) % 12]
        win_pcs = set((window.argmax(0)[window.max(0) > 0.3] // 2) % 12)
        # some transposition maps (nearly) all hummed pitch classes into the window's
        best = max(np.mean([(p + k) % 12 in win_pcs for p in hum_pcs]) for k in range(12))
        assert best > 0.9
        checked += 1
    assert checked >= 5
