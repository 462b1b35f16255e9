"""The embedder interface every model plugs into."""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np

from humsearch.constants import HOP_S, WINDOW_S


def l2_normalize(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero), as float32."""
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


def window_starts(n_samples: int, sample_rate: int, window_s: float, hop_s: float) -> np.ndarray:
    """Start times (s) of overlapping windows covering a signal; the last one ends at the end.

    A signal shorter than one window gets a single window starting at 0.
    """
    duration = n_samples / sample_rate
    if duration <= window_s:
        return np.zeros(1)
    starts = np.arange(0.0, duration - window_s + 1e-9, hop_s)
    if duration - (starts[-1] + window_s) > hop_s / 2:
        starts = np.append(starts, duration - window_s)
    return starts


class Embedder(ABC):
    """Maps audio windows to L2-normalized float32 vectors.

    Attributes:
        name: registry name ("melody", "panns"); stored with every index.
        version: model version; an index built with another version is refused.
        sample_rate: rate (Hz) the audio passed in must have.
        dims: length of each vector.
    """

    name: str
    version: str
    sample_rate: int
    dims: int
    window_s: float = WINDOW_S
    hop_s: float = HOP_S

    @abstractmethod
    def embed(self, windows: list[np.ndarray]) -> np.ndarray:
        """Embed a batch of mono windows (each 1-D float32 at `sample_rate`).

        Returns:
            (len(windows), dims) float32, rows L2-normalized.
        """

    def embed_song(self, audio: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Cut a whole song into overlapping windows and embed them.

        Returns:
            (vectors (n, dims), start times in seconds (n,)).
        """
        starts = window_starts(len(audio), self.sample_rate, self.window_s, self.hop_s)
        size = int(self.window_s * self.sample_rate)
        windows = [audio[int(s * self.sample_rate) : int(s * self.sample_rate) + size] for s in starts]
        return self.embed(windows), starts

    def embed_query(self, audio: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Embed a query; by default the same windows a song gets.

        Returns:
            (vectors (m, dims), offset in seconds of each vector's window inside the query (m,)).
            Several vectors may share an offset (e.g. tempo variants).
        """
        return self.embed_song(audio)
