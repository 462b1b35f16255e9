"""Embedded backend: the whole index in one folder, exact cosine search with numpy.

Layout of `<data_dir>/indexes/<index>/`:

    CURRENT             name of the live generation (replaced atomically)
    gen-<time>-<rand>/  one complete, immutable generation:
        songs.json      spec + per-song metadata (segment counts, melody)
        vectors.npy     (n_segments_total, dims) float32, songs in songs.json order
        segments.npy    (n_segments_total, 2) float32: start_s, end_s

Every commit writes a new generation next to the live one and then points CURRENT at it, so
readers never see half an index and a rebuild swaps in like the Elasticsearch alias does. The
whole index is held in memory: fine for a personal library (10k songs x 100 segments x 128-d
is about 500 MB); bigger collections belong on Elasticsearch. One writer at a time.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, replace
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from humsearch.embedders.base import l2_normalize
from humsearch.errors import HumSearchError, IndexMismatchError, IndexNotFoundError
from humsearch.stores.base import (
    FileState,
    IndexInfo,
    IndexSpec,
    SegmentHit,
    SongDoc,
    Store,
    ensure_compatible,
)
from humsearch.stores.codec import decode_array, encode_array

FORMAT_VERSION = 1
CURRENT_FILE = "CURRENT"
SONGS_FILE = "songs.json"
VECTORS_FILE = "vectors.npy"
SEGMENTS_FILE = "segments.npy"


@dataclass
class _Snapshot:
    """One generation in memory: the spec and every song, vectors included."""

    spec: IndexSpec
    songs: dict[str, SongDoc]

    @cached_property
    def matrix(self) -> _Matrix:
        return _Matrix.build(self.songs.values(), self.spec.dims)


@dataclass(frozen=True)
class _Matrix:
    """All segment vectors stacked, songs contiguous, for one matrix product per query."""

    ids: list[str]
    vectors: np.ndarray  # (n_segments_total, dims)
    offsets: np.ndarray  # (n_songs,) index of each song's first row
    starts: np.ndarray
    ends: np.ndarray

    @classmethod
    def build(cls, songs: Iterable[SongDoc], dims: int) -> _Matrix:
        songs = list(songs)
        counts = np.array([len(s.vectors) for s in songs], dtype=np.int64)
        offsets = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)

        def stack(parts: list[np.ndarray], shape: tuple[int, ...]) -> np.ndarray:
            return np.concatenate(parts).astype(np.float32) if parts else np.zeros(shape, np.float32)

        return cls(
            ids=[s.id for s in songs],
            vectors=stack([s.vectors for s in songs], (0, dims)),
            offsets=offsets,
            starts=stack([s.starts_s for s in songs], (0,)),
            ends=stack([s.ends_s for s in songs], (0,)),
        )


class LocalStore(Store):
    """Index kept in a folder; see the module docstring for the layout."""

    backend = "local"

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        """Args: folder: the index folder (created on the first commit)."""
        self.folder = Path(folder)
        self.index = self.folder.name
        self._live: _Snapshot | None = None
        self._live_generation: str | None = None
        self._pending: _Snapshot | None = None

    # -- reading -------------------------------------------------------------------------------

    def _current_generation(self) -> str | None:
        try:
            return (self.folder / CURRENT_FILE).read_text().strip() or None
        except FileNotFoundError:
            return None

    def _load_live(self) -> _Snapshot | None:
        """The live generation, reloaded when another process committed a newer one."""
        for _ in range(2):  # a writer may delete the generation we were about to read: retry once
            generation = self._current_generation()
            if generation is None:
                self._live, self._live_generation = None, None
                return None
            if generation == self._live_generation:
                return self._live
            try:
                self._live = _read_generation(self.folder / generation)
            except FileNotFoundError:
                continue
            self._live_generation = generation
            return self._live
        raise HumSearchError(f"index folder {self.folder} changed while reading it; try again")

    def info(self) -> IndexInfo:
        snap = self._load_live()
        return IndexInfo(
            backend=self.backend,
            index=self.index,
            spec=snap.spec if snap else None,
            songs=len(snap.songs) if snap else 0,
            segments=sum(len(s.vectors) for s in snap.songs.values()) if snap else 0,
            location=str(self.folder),
            extra={"physical": self._live_generation} if snap else {},
        )

    def spec(self) -> IndexSpec | None:
        snap = self._load_live()
        return snap.spec if snap else None

    def knn(self, vectors: np.ndarray, *, k: int) -> list[list[SegmentHit]]:
        snap = self._load_live()
        if snap is None:
            raise IndexNotFoundError(f"index {self.index!r} does not exist yet: index a music folder first")
        queries = l2_normalize(np.atleast_2d(vectors))
        if queries.shape[1] != snap.spec.dims:
            raise IndexMismatchError(
                f"query vectors have {queries.shape[1]} dims but index {self.index!r} holds {snap.spec.dims}"
            )
        m = snap.matrix
        if not m.ids:
            return [[] for _ in queries]
        scores = queries @ m.vectors.T  # (n_queries, n_segments): cosine, rows are unit length
        song_best = np.maximum.reduceat(scores, m.offsets, axis=1)  # (n_queries, n_songs)
        k = max(1, min(k, len(m.ids)))
        bounds = np.append(m.offsets, len(m.vectors))
        results = []
        for q in range(len(queries)):
            top = np.argpartition(-song_best[q], k - 1)[:k]
            # Ties ordered by song id so both backends and reruns agree.
            top = sorted(top, key=lambda j: (-song_best[q, j], m.ids[j]))
            hits = []
            for j in top:
                row = bounds[j] + int(np.argmax(scores[q, bounds[j] : bounds[j + 1]]))
                hits.append(
                    SegmentHit(
                        song_id=m.ids[j],
                        score=float(scores[q, row]),
                        start_s=float(m.starts[row]),
                        end_s=float(m.ends[row]),
                    )
                )
            results.append(hits)
        return results

    def get_songs(self, ids: Iterable[str]) -> dict[str, SongDoc]:
        snap = self._load_live()
        if snap is None:
            return {}
        found = (snap.songs[i] for i in ids if i in snap.songs)
        return {doc.id: _without_vectors(doc, snap.spec.dims) for doc in found}

    # -- writing -------------------------------------------------------------------------------

    def open_for_write(self, spec: IndexSpec, *, rebuild: bool = False) -> None:
        live = self._load_live()
        if rebuild or live is None:
            self._pending = _Snapshot(spec=spec, songs={})
            return
        ensure_compatible(live.spec, spec, index=self.index)
        # The live spec stays: a window or hop it does not know stays unknown, since its songs
        # were cut with lengths nobody recorded.
        self._pending = _Snapshot(spec=live.spec, songs=dict(live.songs))

    def _writing(self) -> _Snapshot:
        if self._pending is None:
            raise RuntimeError("call open_for_write() before writing")
        return self._pending

    def file_states(self) -> dict[str, FileState]:
        snap = self._pending or self._load_live()
        if snap is None:
            return {}
        return {
            doc.id: FileState(path=doc.path, size=doc.size, mtime=doc.mtime, sha256=doc.sha256)
            for doc in snap.songs.values()
        }

    def upsert(self, docs: Iterable[SongDoc]) -> int:
        pending = self._writing()
        written = 0
        for doc in docs:
            _check_vectors(doc, pending.spec.dims)
            pending.songs[doc.id] = replace(
                doc,
                vectors=l2_normalize(doc.vectors),
                starts_s=np.asarray(doc.starts_s, dtype=np.float32),
                ends_s=np.asarray(doc.ends_s, dtype=np.float32),
            )
            written += 1
        return written

    def update_states(self, states: Mapping[str, FileState]) -> int:
        pending = self._writing()
        updated = 0
        for song_id, state in states.items():
            if song_id in pending.songs:
                pending.songs[song_id] = replace(pending.songs[song_id], mtime=state.mtime, size=state.size)
                updated += 1
        return updated

    def delete(self, ids: Iterable[str]) -> int:
        pending = self._writing()
        return sum(pending.songs.pop(i, None) is not None for i in ids)

    def commit(self) -> None:
        pending = self._writing()
        self.folder.mkdir(parents=True, exist_ok=True)
        generation = f"gen-{time.strftime('%Y%m%d%H%M%S')}-{uuid.uuid4().hex[:8]}"
        tmp = self.folder / f".{generation}.tmp"
        tmp.mkdir()
        _write_generation(tmp, pending)
        tmp.rename(self.folder / generation)
        _atomic_write_text(self.folder / CURRENT_FILE, generation + "\n")
        for old in self.folder.iterdir():
            if old.is_dir() and old.name != generation:
                shutil.rmtree(old, ignore_errors=True)
        self._live, self._live_generation, self._pending = pending, generation, None


def _check_vectors(doc: SongDoc, dims: int) -> None:
    n = len(doc.starts_s)
    if doc.vectors.ndim != 2 or doc.vectors.shape[1] != dims:
        raise IndexMismatchError(f"{doc.path}: vectors of shape {doc.vectors.shape}, index expects (n, {dims})")
    if n == 0 or len(doc.vectors) != n or len(doc.ends_s) != n:
        raise ValueError(f"{doc.path}: need one start and end per vector and at least one segment")


def _without_vectors(doc: SongDoc, dims: int) -> SongDoc:
    empty = np.zeros(0, np.float32)
    return replace(doc, vectors=np.zeros((0, dims), np.float32), starts_s=empty, ends_s=empty)


def _write_generation(folder: Path, snap: _Snapshot) -> None:
    m = snap.matrix
    meta: dict[str, Any] = {
        "format": FORMAT_VERSION,
        "spec": asdict(snap.spec),
        "songs": [
            {
                "id": d.id,
                "path": d.path,
                "title": d.title,
                "duration_s": d.duration_s,
                "sha256": d.sha256,
                "mtime": d.mtime,
                "size": d.size,
                "n_segments": len(d.vectors),
                "melody": encode_array(d.melody),
            }
            for d in snap.songs.values()
        ],
    }
    with open(folder / VECTORS_FILE, "wb") as f:
        np.save(f, m.vectors)
        _fsync(f)
    with open(folder / SEGMENTS_FILE, "wb") as f:
        np.save(f, np.stack([m.starts, m.ends], axis=1))
        _fsync(f)
    with open(folder / SONGS_FILE, "w") as f:
        json.dump(meta, f)
        _fsync(f)


def _read_generation(folder: Path) -> _Snapshot:
    with open(folder / SONGS_FILE) as f:
        meta = json.load(f)
    if meta.get("format") != FORMAT_VERSION:
        raise IndexMismatchError(f"index folder {folder} has format {meta.get('format')}; rebuild the index")
    spec = IndexSpec(**meta["spec"])  # no window_s, hop_s (written before they were recorded): None
    vectors = np.load(folder / VECTORS_FILE)
    segments = np.load(folder / SEGMENTS_FILE)
    songs: dict[str, SongDoc] = {}
    row = 0
    for s in meta["songs"]:
        n = s["n_segments"]
        songs[s["id"]] = SongDoc(
            id=s["id"],
            path=s["path"],
            title=s["title"],
            duration_s=s["duration_s"],
            sha256=s["sha256"],
            mtime=s["mtime"],
            size=s["size"],
            vectors=vectors[row : row + n],
            starts_s=segments[row : row + n, 0],
            ends_s=segments[row : row + n, 1],
            melody=decode_array(s["melody"]),
        )
        row += n
    return _Snapshot(spec=spec, songs=songs)


def _fsync(f: Any) -> None:
    f.flush()
    os.fsync(f.fileno())


def _atomic_write_text(path: Path, text: str) -> None:
    """Write via a temporary file and rename, so readers see the old or the new content."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    with open(tmp, "w") as f:
        f.write(text)
        _fsync(f)
    os.replace(tmp, path)
