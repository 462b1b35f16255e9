"""Synthetic hums keep the tune's shape while changing key, tempo and voice."""

import numpy as np
import pytest

from humsearch.constants import FRAMES_PER_SECOND
from humsearch.synth.formant_voice import sing_pitch_track
from humsearch.synth.hum import VOICES, synthesize_hum

SR = 16_000
# Ode to Joy, first phrase: (start, end, MIDI pitch)
TUNE = np.array([(i * 0.5, i * 0.5 + 0.45, p) for i, p in enumerate([64, 64, 65, 67, 67, 65, 64, 62, 60, 60, 62, 64, 64, 62, 62])])


@pytest.mark.parametrize("voice", VOICES)
def test_hum_is_clean_audio_with_a_pitch_label(voice):
    hum = synthesize_hum(TUNE, sr=SR, rng=np.random.default_rng(1), voice=voice)
    assert hum.audio.dtype == np.float32 and np.all(np.isfinite(hum.audio))
    assert 0.5 < np.abs(hum.audio).max() <= 1.0
    duration = len(hum.audio) / SR
    assert len(hum.f0_midi) == pytest.approx(duration * FRAMES_PER_SECOND, abs=3)
    assert 0.3 < np.mean(hum.f0_midi > 0) < 1.0  # sung frames and pauses


def test_hum_tempo_and_range():
    hum = synthesize_hum(TUNE, sr=SR, rng=np.random.default_rng(2), tempo=1.3, voice="hum")
    assert hum.tempo == 1.3
    assert len(hum.audio) / SR > TUNE[-1, 1] * 1.1  # slower than the melody
    sung = hum.f0_midi[hum.f0_midi > 0]
    assert 38 < np.median(sung) < 70  # a human humming range, whatever the tune's key


def test_hum_keeps_the_melodic_contour():
    """The sung pitch, stretched onto the tune's timeline, rises and falls with the tune."""
    rng = np.random.default_rng(3)
    grid = np.linspace(TUNE[0, 0], TUNE[-1, 1] - 0.01, 400)
    tune = TUNE[np.searchsorted(TUNE[:, 0], grid, side="right") - 1, 2]
    corr = []
    for _ in range(6):
        hum = synthesize_hum(TUNE, sr=SR, rng=rng, tempo=1.0, voice="hum")
        sung = hum.f0_midi[hum.f0_midi > 0]
        sung = np.interp(np.linspace(0, 1, grid.size), np.linspace(0, 1, sung.size), sung)
        corr.append(np.corrcoef(sung, tune)[0, 1])
    assert np.median(corr) > 0.6


def test_formant_voice_follows_the_pitch_track():
    import librosa

    t = np.arange(0, 3, 0.01)
    hz = np.where(t < 1.5, 220.0, 330.0)
    hz[(t > 1.4) & (t < 1.6)] = 0.0
    audio = sing_pitch_track(t, hz, sr=SR, rng=np.random.default_rng(4))
    f0, voiced, _ = librosa.pyin(audio, fmin=100, fmax=600, sr=SR, frame_length=1024)
    first = np.nanmedian(f0[: int(len(f0) * 0.4)])
    second = np.nanmedian(f0[int(len(f0) * 0.6):])
    assert first == pytest.approx(220, rel=0.04)
    assert second == pytest.approx(330, rel=0.04)
