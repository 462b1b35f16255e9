"""Index music folders: walk, decode, embed, and stream song documents into a store.

Incremental: a file whose size and mtime are unchanged is skipped; otherwise its sha256
decides (same content: only the stored mtime is refreshed; new content: re-embedded).
Songs whose files are gone from the indexed folders are deleted. A file that cannot be
decoded is logged, reported and skipped; the rest goes on.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from humsearch.audio import find_audio_files, load_audio, song_title
from humsearch.embedders.base import Embedder
from humsearch.stores.base import FileState, IndexSpec, SongDoc, Store

log = logging.getLogger(__name__)

# Called before each file with (files done, files total, path being processed), and once at the
# end with (total, total, ""). The CLI turns it into tqdm, the app into a progress bar.
Progress = Callable[[int, int, str], None]

HASH_CHUNK = 1 << 20  # bytes read at a time when hashing


@dataclass
class IndexReport:
    """What one indexing run did."""

    added: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)
    seconds: float = 0.0  # wall time of the run
    audio_seconds: float = 0.0  # duration of the audio decoded and embedded

    @property
    def realtime_factor(self) -> float:
        """Seconds of audio embedded per second of wall time (0 when nothing was embedded)."""
        return self.audio_seconds / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (failures as {"path", "reason"} objects)."""
        d = asdict(self)
        d["failed"] = [{"path": p, "reason": r} for p, r in self.failed]
        d["realtime_factor"] = self.realtime_factor
        return d


def song_id(path: str | os.PathLike[str]) -> str:
    """Deterministic id of a file: sha1 of its absolute, resolved path, so reruns never duplicate."""
    return hashlib.sha1(str(Path(path).resolve()).encode()).hexdigest()


def file_sha256(path: str | os.PathLike[str]) -> str:
    """sha256 of the file's content, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def embed_file(path: Path, *, embedder: Embedder, state: FileState) -> SongDoc:
    """Decode and embed one file into a song document.

    Raises:
        InvalidAudioError: the file cannot be decoded (the message names it).
    """
    audio = load_audio(path, sr=embedder.sample_rate)
    duration = len(audio) / embedder.sample_rate
    embedded = embedder.embed_song(audio)
    starts = np.asarray(embedded.starts_s, dtype=np.float32)
    return SongDoc(
        id=song_id(path),
        path=str(path),
        title=song_title(path),
        duration_s=duration,
        sha256=state.sha256,
        mtime=state.mtime,
        size=state.size,
        vectors=embedded.vectors,
        starts_s=starts,
        ends_s=np.minimum(starts + embedder.window_s, duration).astype(np.float32),
        melody=embedded.melody,
    )


def index_folder(
    roots: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
    *,
    embedder: Embedder,
    store: Store,
    rebuild: bool = False,
    progress: Progress | None = None,
) -> IndexReport:
    """Bring the index in line with the audio files under `roots`.

    Args:
        roots: one folder or several (searched recursively).
        embedder: turns audio into segment vectors; the index must have been built by the same one.
        store: where documents go.
        rebuild: build a fresh index from scratch and swap it in at the end.
        progress: optional callback, see Progress.

    Returns:
        Counts of added, updated, unchanged, removed and failed files, and timings.

    Raises:
        HumSearchError: a root does not exist.
        IndexMismatchError: the index was built by another embedder (and rebuild is False).
        BackendUnavailableError: the store cannot be reached.
    """
    started = time.perf_counter()
    roots = [roots] if isinstance(roots, (str, os.PathLike)) else list(roots)
    roots = [Path(r).resolve() for r in roots]
    # Paths only: small even for big libraries. Resolving merges symlinks and overlapping roots.
    files = list(dict.fromkeys(p.resolve() for p in find_audio_files(roots)))

    store.open_for_write(IndexSpec.for_embedder(embedder), rebuild=rebuild)
    known = store.file_states()
    report = IndexReport()
    touched: dict[str, FileState] = {}  # same content, new mtime: only the state is rewritten
    seen: set[str] = set()
    failed_ids: set[str] = set()

    def docs() -> Iterator[SongDoc]:
        for done, path in enumerate(files):
            if progress:
                progress(done, len(files), str(path))
            sid = song_id(path)
            seen.add(sid)
            old = known.get(sid)
            try:
                stat = path.stat()
                if old and old.size == stat.st_size and old.mtime == stat.st_mtime:
                    report.unchanged += 1
                    continue
                state = FileState(path=str(path), size=stat.st_size, mtime=stat.st_mtime, sha256=file_sha256(path))
                if old and old.sha256 == state.sha256:
                    touched[sid] = state
                    report.unchanged += 1
                    continue
                doc = embed_file(path, embedder=embedder, state=state)
            except Exception as e:  # any failure of one file (decoder, tags, model) must not stop the run
                # Our errors already name the file; the report keeps path and reason apart.
                reason = (str(e) or type(e).__name__).removeprefix(f"{path}: ")
                log.warning("skipping %s: %s", path, reason)
                log.debug("traceback for %s", path, exc_info=True)
                report.failed.append((str(path), reason))
                failed_ids.add(sid)
                continue
            report.audio_seconds += doc.duration_s
            if old:
                report.updated += 1
            else:
                report.added += 1
            yield doc
        if progress:
            progress(len(files), len(files), "")

    store.upsert(docs())
    if touched:
        store.update_states(touched)
    # Gone from disk, or no longer decodable: the index holds exactly the files that decode.
    stale = [sid for sid, st in known.items() if (sid not in seen and _under(st.path, roots)) or sid in failed_ids]
    report.removed = store.delete(stale) if stale else 0
    store.commit()
    report.seconds = time.perf_counter() - started
    return report


def _under(path: str, roots: list[Path]) -> bool:
    """Whether `path` lies inside one of the roots (or is one of them)."""
    p = Path(path)
    return any(p == r or r in p.parents for r in roots)
