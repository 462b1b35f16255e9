"""Test doubles: a small deterministic embedder and synthetic melodies.

The toy embedder really discriminates: each window is cut into 4 blocks and each block becomes
a 12-bin pitch-class profile, so different note sequences, and different moments of one song,
get different vectors.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

from humsearch.constants import PITCH_MIDI_HIGH, PITCH_MIDI_LOW
from humsearch.embedders.base import Embedder, SongEmbedding, l2_normalize
from humsearch.melody.contour import CONTOUR_RATE

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


class ToyMelodyEmbedder(ToyEmbedder):
    """The toy embedder that also gives a melody contour (FFT peak per contour step)."""

    def embed_song(self, audio: np.ndarray) -> SongEmbedding:
        return super().embed_song(audio)._replace(melody=toy_contour(audio))


def toy_contour(audio: np.ndarray, sr: int = SR) -> np.ndarray:
    """uint8 contour in humsearch.melody.contour's format: 1 + semitones above PITCH_MIDI_LOW, 0 = quiet."""
    step = int(round(sr / CONTOUR_RATE))
    n = len(audio) // step
    frames = audio[: n * step].reshape(n, step) * np.hanning(step)
    spectrum = np.abs(np.fft.rfft(frames, n=4 * step, axis=1))
    freqs = np.fft.rfftfreq(4 * step, 1 / sr)
    peak = freqs[np.argmax(spectrum[:, 1:], axis=1) + 1]
    midi = np.clip(np.round(69 + 12 * np.log2(peak / 440.0)), PITCH_MIDI_LOW, PITCH_MIDI_HIGH - 1)
    loud = np.sqrt(np.mean(frames**2, axis=1)) > 0.01
    return np.where(loud, midi - PITCH_MIDI_LOW + 1, 0).astype(np.uint8)


def tones(pitches: np.ndarray, *, note_s: float = NOTE_S, sr: int = SR) -> np.ndarray:
    """Harmonic tones (two overtones) of the given MIDI pitches, note_s seconds each."""
    n = int(note_s * sr)
    t = np.arange(n) / sr
    fade = np.minimum(1.0, np.minimum(t, t[::-1]) / 0.01)  # 10 ms ramps: no clicks between notes
    parts = []
    for p in pitches:
        f = 440.0 * 2 ** ((p - 69) / 12)
        tone = sum(np.sin(2 * np.pi * f * h * t) / h for h in (1, 2, 3))
        parts.append(0.3 * fade * tone)
    return np.concatenate(parts).astype(np.float32)


def melody(rng: np.random.Generator, *, notes: int = 16, sr: int = SR) -> np.ndarray:
    """A random tune: `notes` notes of NOTE_S seconds between C4 and B5, with two overtones."""
    return tones(rng.integers(60, 84, size=notes), sr=sr)


def write_audio(path: Path, audio: np.ndarray, sr: int = SR) -> Path:
    """Write audio (format from the suffix) creating parent folders; returns the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, audio, sr)
    return path
