"""Log-frequency spectrogram the melody model hears, and its harmonic stacking.

The spectrogram is computed once per song and sliced into windows; anything that
depends on the window (loudness normalization) happens inside the model, so a window
sliced from a song and the same audio computed alone look the same to the network.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch

from humsearch.constants import (
    BINS_PER_SEMITONE,
    HOP_LENGTH,
    MELODY_SAMPLE_RATE,
    N_FFT,
    N_PITCH_BINS,
    PITCH_MIDI_LOW,
    SPEC_MIDI_HIGH,
    SPEC_MIDI_LOW,
)

N_SPEC_BINS = (SPEC_MIDI_HIGH - SPEC_MIDI_LOW) * BINS_PER_SEMITONE  # 176
# Harmonics stacked as channels so that a pitch's partials line up on one bin:
# the sub-octave, the fundamental and harmonics 2..5.
HARMONICS = (0.5, 1.0, 2.0, 3.0, 4.0, 5.0)
LOG_FLOOR = 1e-5  # magnitude floor before the log (about -100 dB)


def midi_to_hz(midi: np.ndarray | float) -> np.ndarray:
    return 440.0 * 2.0 ** ((np.asarray(midi, dtype=np.float64) - 69.0) / 12.0)


def hz_to_midi(hz: np.ndarray | float) -> np.ndarray:
    return 69.0 + 12.0 * np.log2(np.asarray(hz, dtype=np.float64) / 440.0)


@lru_cache(maxsize=1)
def _filterbank() -> torch.Tensor:
    """(N_SPEC_BINS, N_FFT//2+1) triangular filters centred on quarter-tone bins.

    Below ~200 Hz the FFT bins are wider than a quarter tone, so each triangle is at
    least one FFT bin wide on each side: low bins then interpolate between FFT bins.
    """
    fft_hz = np.fft.rfftfreq(N_FFT, 1.0 / MELODY_SAMPLE_RATE)
    df = fft_hz[1]
    centres = midi_to_hz(SPEC_MIDI_LOW + np.arange(N_SPEC_BINS) / BINS_PER_SEMITONE)
    bank = np.zeros((N_SPEC_BINS, fft_hz.size), dtype=np.float32)
    for i, fc in enumerate(centres):
        half = max(fc * (2 ** (1 / (12 * BINS_PER_SEMITONE)) - 1), df)
        w = np.clip(1.0 - np.abs(fft_hz - fc) / half, 0.0, None)
        bank[i] = w / w.sum()
    return torch.from_numpy(bank)


def log_spectrogram(audio: np.ndarray | torch.Tensor) -> torch.Tensor:
    """Log-magnitude on the quarter-tone axis.

    Args:
        audio: mono float audio at MELODY_SAMPLE_RATE, shape (samples,) or (batch, samples).

    Returns:
        float32 tensor (N_SPEC_BINS, frames) or (batch, N_SPEC_BINS, frames), natural log.
    """
    x = torch.as_tensor(audio, dtype=torch.float32)
    window = torch.hann_window(N_FFT)
    spec = torch.stft(x, N_FFT, HOP_LENGTH, window=window, center=True, return_complex=True).abs()
    return torch.log(torch.matmul(_filterbank(), spec) + LOG_FLOOR)


def harmonic_stack(spec: torch.Tensor) -> torch.Tensor:
    """(..., N_SPEC_BINS, T) -> (..., len(HARMONICS), N_PITCH_BINS, T).

    Channel c, bin p holds the energy at harmonic HARMONICS[c] of pitch bin p.
    """
    base = (PITCH_MIDI_LOW - SPEC_MIDI_LOW) * BINS_PER_SEMITONE
    chans = []
    for h in HARMONICS:
        start = base + int(round(12 * BINS_PER_SEMITONE * np.log2(h)))
        chans.append(spec[..., start : start + N_PITCH_BINS, :])
    return torch.stack(chans, dim=-3)


def pitch_bin(midi: np.ndarray) -> np.ndarray:
    """MIDI pitch -> fractional pitch-bin index of the model's output axis."""
    return (np.asarray(midi) - PITCH_MIDI_LOW) * BINS_PER_SEMITONE
