"""Test doubles: a small deterministic embedder and synthetic melodies.

The toy embedder really discriminates: each window is cut into 4 blocks and each block becomes
a 12-bin pitch-class profile, so different note sequences, and different moments of one song,
get different vectors.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

from humsearch.embedders.base import Embedder, l2_normalize

SR = 8_000  # Hz: plenty for tones up to C6 and fast to process
NOTE_S = 0.5  # seconds per generated note


class ToyEmbedder(Embedder):
    """Pitch-class profiles of 4 consecutive blocks per window (48-d)."""

    name = "toy"
    version = "1"
    sample_rate = SR
    window_s = 2.0
    hop_s = 1.0
    blocks = 4
    dims = 12 * blocks

    def __init__(self, version: str = "1") -> None:
        self.version = version
        block = int(self.window_s * SR) // self.blocks
        freqs = np.fft.rfftfreq(block, 1 / SR)
        usable = (freqs > 80) & (freqs < 2_500)
        pitch_class = np.round(12 * np.log2(np.where(usable, freqs, 1) / 440.0)).astype(int) % 12
        self._fold = np.zeros((len(freqs), 12), np.float32)  # FFT bin -> pitch class
        self._fold[usable, pitch_class[usable]] = 1.0
        self._hann = np.hanning(block).astype(np.float32)

    def embed(self, windows: list[np.ndarray]) -> np.ndarray:
        size = int(self.window_s * SR)
        out = np.zeros((len(windows), self.dims), np.float32)
        for i, w in enumerate(windows):
            w = np.pad(w[:size], (0, size - len(w[:size])))
            blocks = w.reshape(self.blocks, -1) * self._hann
            profile = (np.abs(np.fft.rfft(blocks, axis=1)) ** 2) @ self._fold  # (blocks, 12)
            out[i] = l2_normalize(profile).ravel()
        return l2_normalize(out)


def melody(rng: np.random.Generator, *, notes: int = 16, sr: int = SR) -> np.ndarray:
    """A random tune: `notes` notes of NOTE_S seconds between C4 and B5, with two overtones."""
    pitches = rng.integers(60, 84, size=notes)
    n = int(NOTE_S * sr)
    t = np.arange(n) / sr
    fade = np.minimum(1.0, np.minimum(t, t[::-1]) / 0.01)  # 10 ms ramps: no clicks between notes
    parts = []
    for p in pitches:
        f = 440.0 * 2 ** ((p - 69) / 12)
        tone = sum(np.sin(2 * np.pi * f * h * t) / h for h in (1, 2, 3))
        parts.append(0.3 * fade * tone)
    return np.concatenate(parts).astype(np.float32)


def write_audio(path: Path, audio: np.ndarray, sr: int = SR) -> Path:
    """Write audio (format from the suffix) creating parent folders; returns the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, audio, sr)
    return path
