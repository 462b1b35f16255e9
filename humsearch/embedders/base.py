"""The embedder interface every model plugs into."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import NamedTuple

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


class SongEmbedding(NamedTuple):
    """What an embedder makes of a whole song (immutable; `_replace` makes a changed copy).

    Attributes:
        vectors: (n, dims) float32, rows L2-normalized, one per window.
        starts_s: (n,) start time in seconds of each window.
        melody: optional uint8 melody contour of the whole song (see humsearch.melody.contour:
            (steps,), or (candidates, steps) with the strongest pitch first), stored with the song
            for the second search stage; None when the embedder has none.
    """

    vectors: np.ndarray
    starts_s: np.ndarray
    melody: np.ndarray | None = None


class QueryEmbedding(NamedTuple):
    """What an embedder makes of a query.

    Attributes:
        vectors: (m, dims) float32, rows L2-normalized.
        offsets_s: (m,) offset in seconds of each vector's window inside the query; several
            vectors may share an offset (e.g. tempo variants).
        melody: optional uint8 melody contour of the whole query, one row (steps,).
    """

    vectors: np.ndarray
    offsets_s: np.ndarray
    melody: np.ndarray | None = None


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

    def embed_song(self, audio: np.ndarray) -> SongEmbedding:
        """Cut a whole song into overlapping windows and embed them (no melody by default)."""
        starts = window_starts(len(audio), self.sample_rate, self.window_s, self.hop_s)
        size = int(self.window_s * self.sample_rate)
        windows = [audio[int(s * self.sample_rate) : int(s * self.sample_rate) + size] for s in starts]
        return SongEmbedding(self.embed(windows), starts)

    def embed_query(self, audio: np.ndarray) -> QueryEmbedding:
        """Embed a query; by default the same windows a song gets."""
        song = self.embed_song(audio)
        return QueryEmbedding(song.vectors, song.starts_s, song.melody)
