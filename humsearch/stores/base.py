"""What every search backend stores and answers: one interface, two implementations."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class IndexSpec:
    """Which embedder an index belongs to; an index refuses vectors from any other."""

    embedder: str
    model_version: str
    dims: int


@dataclass(frozen=True)
class FileState:
    """What the indexer compares to decide if a file changed."""

    path: str
    size: int
    mtime: float
    sha256: str


@dataclass
class SongDoc:
    """One song: metadata plus its segment vectors (one row per window)."""

    id: str
    path: str
    title: str
    duration_s: float
    sha256: str
    mtime: float
    size: int
    vectors: np.ndarray  # (n_segments, dims) float32, L2-normalized
    starts_s: np.ndarray  # (n_segments,)
    ends_s: np.ndarray  # (n_segments,)
    melody: np.ndarray | None = None  # optional coarse melody contour for re-ranking


@dataclass(frozen=True)
class SegmentHit:
    """The best segment of one song for one query vector."""

    song_id: str
    score: float  # cosine similarity in [-1, 1]
    start_s: float
    end_s: float


@dataclass
class IndexInfo:
    backend: str
    index: str
    spec: IndexSpec | None
    songs: int
    segments: int
    location: str = ""  # URL or folder
    extra: dict = field(default_factory=dict)


class Store(ABC):
    """A vector index of songs. Both backends pass the same contract tests.

    Writes go through `open_for_write`, which checks the index's embedder spec; a
    rebuild writes into a fresh physical index and swaps it in atomically on `commit`.
    """

    backend: str

    @abstractmethod
    def info(self) -> IndexInfo:
        """Backend, index name, spec (None when the index does not exist) and counts."""

    @abstractmethod
    def open_for_write(self, spec: IndexSpec, *, rebuild: bool = False) -> None:
        """Create the index if missing; raise IndexMismatchError if it holds another spec.

        With rebuild=True, later writes go to a new index that replaces the live one on commit().
        """

    @abstractmethod
    def file_states(self) -> dict[str, FileState]:
        """Song id -> FileState of every indexed song (of the index being written)."""

    @abstractmethod
    def upsert(self, docs: Iterable[SongDoc]) -> int:
        """Write documents (streaming: docs may be a generator); returns how many were written."""

    @abstractmethod
    def delete(self, ids: Iterable[str]) -> int:
        """Remove songs by id; returns how many were removed."""

    @abstractmethod
    def commit(self) -> None:
        """Make writes durable and visible (and swap in a rebuilt index)."""

    @abstractmethod
    def knn(self, vectors: np.ndarray, *, k: int) -> list[list[SegmentHit]]:
        """For each query vector, the k best songs, each with its best segment, best first."""

    @abstractmethod
    def get_songs(self, ids: Iterable[str]) -> dict[str, SongDoc]:
        """Metadata (and melody, if stored) of the given songs; vectors may be empty."""
