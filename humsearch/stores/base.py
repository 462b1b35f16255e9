"""What every search backend stores and answers: one interface, two implementations."""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from humsearch.errors import IndexMismatchError, IndexNotFoundError


class _HasSpec(Protocol):
    name: str
    version: str
    dims: int
    window_s: float
    hop_s: float


@dataclass(frozen=True)
class IndexSpec:
    """Which embedder, and which song windows, an index belongs to; it refuses any other.

    window_s and hop_s are the song-side segment length and hop (`embedder.window_s`,
    `embedder.hop_s`; queries may be cut differently, e.g. the melody embedder's own query hop).
    None means unknown: indexes written before they were recorded have none, and are accepted
    with any window and hop.
    """

    embedder: str
    model_version: str
    dims: int
    window_s: float | None = None
    hop_s: float | None = None

    @classmethod
    def for_embedder(cls, embedder: _HasSpec) -> IndexSpec:
        """The spec of indexes built by `embedder`, with its song windows."""
        return cls(
            embedder=embedder.name,
            model_version=embedder.version,
            dims=int(embedder.dims),
            window_s=float(embedder.window_s),
            hop_s=float(embedder.hop_s),
        )


def ensure_compatible(found: IndexSpec | None, wanted: IndexSpec, *, index: str) -> None:
    """Refuse to search or extend an index built by another embedder or with other song windows.

    A window or hop that either side does not know (None) is not compared.

    Raises:
        IndexNotFoundError: found is None (no index yet).
        IndexMismatchError: found differs from wanted; the message says to rebuild.
    """
    if found is None:
        raise IndexNotFoundError(f"index {index!r} does not exist yet: index a music folder first")
    if (found.embedder, found.model_version, found.dims) != (wanted.embedder, wanted.model_version, wanted.dims):
        raise IndexMismatchError(
            f"index {index!r} was built with embedder {found.embedder} {found.model_version} "
            f"({found.dims}-d vectors) but {wanted.embedder} {wanted.model_version} ({wanted.dims}-d) "
            "is in use: rebuild the index (humsearch index DIR --rebuild) or choose the matching embedder"
        )
    if not (_same_seconds(found.window_s, wanted.window_s) and _same_seconds(found.hop_s, wanted.hop_s)):
        raise IndexMismatchError(
            f"index {index!r} was built with window {_seconds(found.window_s)}, hop {_seconds(found.hop_s)} "
            f"but window {_seconds(wanted.window_s)}, hop {_seconds(wanted.hop_s)} is in use: "
            "rebuild the index (humsearch index --rebuild DIR) or set HUMSEARCH_WINDOW_S and HUMSEARCH_HOP_S "
            "to the index's values"
        )


def _same_seconds(found: float | None, wanted: float | None) -> bool:
    """Equal lengths, or one of them unknown."""
    return found is None or wanted is None or math.isclose(found, wanted, rel_tol=0, abs_tol=1e-6)


def _seconds(value: float | None) -> str:
    return "unknown" if value is None else f"{value:g} s"


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
    melody: np.ndarray | None = None  # optional small integer array (a melody contour) for re-ranking


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
    A write session is: open_for_write, file_states, upsert / update_states / delete, commit.
    Reads (info, spec, knn, get_songs) always see the live index.
    """

    backend: str  # "local" or "elasticsearch"
    index: str  # the index name users see (alias or folder name)

    @abstractmethod
    def info(self) -> IndexInfo:
        """Backend, index name, spec (None when the index does not exist) and counts."""

    @abstractmethod
    def spec(self) -> IndexSpec | None:
        """The live index's spec, or None when it does not exist (cheaper than info())."""

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
    def update_states(self, states: Mapping[str, FileState]) -> int:
        """Refresh the stored file state (mtime, size) of songs whose content did not change."""

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
