"""Find the songs a hummed query matches, each with the moment to start playback.

Two stages. The kNN stage compares the query's window vectors with every indexed segment and
ranks songs by their best segment. When the embedder also gives melody contours (the melody
embedder does), the second stage aligns the query's contour by DTW with the stored contours of
the RERANK_CANDIDATES best songs, near the place the kNN stage matched, and re-orders them by
a fixed mix of both scores (humsearch.melody.rerank).
"""

from __future__ import annotations

from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np

from humsearch.audio import check_query
from humsearch.embedders.base import Embedder
from humsearch.melody import rerank as melody_rerank
from humsearch.stores.base import IndexSpec, SegmentHit, SongDoc, Store, ensure_compatible

MIN_CANDIDATES = 20  # songs asked per query vector even when k is small
RERANK_CANDIDATES = 100  # songs of the kNN stage the melody alignment re-orders (benchmarks/rerank_depth.py)


@dataclass(frozen=True)
class Hit:
    """One song found for a query.

    Attributes:
        rank: 1 for the best match.
        score: cosine similarity of the best matching (query window, song segment) pair; after
            the melody stage, the fused score (humsearch.melody.rerank.fuse), also about 0-1.
        start_s, end_s: the matched range in the song, moved back by the matching query window's
            offset so that playback from start_s lines up with the start of the query. After the
            melody stage, the range the query's contour was aligned with (a finer estimate).
    """

    rank: int
    song_id: str
    title: str
    path: str
    score: float
    start_s: float
    end_s: float

    @property
    def percent(self) -> float:
        """Score as a percentage for display: cosine clipped to [0, 1], times 100."""
        return 100.0 * min(1.0, max(0.0, self.score))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form, with the percentage."""
        return {**asdict(self), "percent": round(self.percent, 1)}


def aggregate(hits_per_vector: list[list[SegmentHit]], offsets_s: np.ndarray) -> list[tuple[SegmentHit, float, float]]:
    """Rank songs by their best segment score; ties broken by the mean of their per-vector scores.

    Args:
        hits_per_vector: store.knn's answer, one list per query vector.
        offsets_s: offset of each query vector's window inside the query.

    Returns:
        (best segment hit, offset of the query window that produced it, mean score) per song, best first.
    """
    best: dict[str, tuple[SegmentHit, float]] = {}
    scores: dict[str, list[float]] = defaultdict(list)
    for hits, offset in zip(hits_per_vector, offsets_s):
        for hit in hits:
            scores[hit.song_id].append(hit.score)
            if hit.song_id not in best or hit.score > best[hit.song_id][0].score:
                best[hit.song_id] = (hit, float(offset))
    ranked = [(hit, offset, float(np.mean(scores[sid]))) for sid, (hit, offset) in best.items()]
    # Song id last so equal scores come back in the same order every time.
    ranked.sort(key=lambda r: (-r[0].score, -r[2], r[0].song_id))
    return ranked


def search(
    audio: np.ndarray,
    *,
    embedder: Embedder,
    store: Store,
    k: int = 10,
    rerank: bool = True,
    candidates: int = RERANK_CANDIDATES,
) -> list[Hit]:
    """The k songs that best match a hummed query.

    Args:
        audio: mono float32 query at embedder.sample_rate (see humsearch.audio.load_audio).
        embedder: the embedder the index was built with.
        store: the index to search.
        k: how many songs to return.
        rerank: re-order the best kNN candidates by melody alignment. Takes effect only when the
            embedder gives the query a contour with enough melody in it.
        candidates: how many of the kNN stage's best songs the melody stage re-orders.

    Returns:
        Up to k hits, best first.

    Raises:
        SilentAudioError: the query holds no sound.
        InvalidAudioError: the query is too short.
        IndexNotFoundError: nothing has been indexed yet.
        IndexMismatchError: the index was built by another embedder.
        BackendUnavailableError: the store cannot be reached.
    """
    check_query(audio, embedder.sample_rate)
    ensure_compatible(store.spec(), IndexSpec.for_embedder(embedder), index=store.index)
    query = embedder.embed_query(audio)
    rerank = rerank and melody_rerank.can_align(query.melody)
    pool = max(k, candidates) if rerank else k
    per_vector = store.knn(query.vectors, k=max(pool, MIN_CANDIDATES) * 2)
    ranked = aggregate(per_vector, np.asarray(query.offsets_s, dtype=float))[:pool]
    songs = store.get_songs(best.song_id for best, _, _ in ranked)
    hits = []
    for best, offset, _ in ranked:
        song = songs.get(best.song_id)
        if song is None:  # deleted between the kNN query and the lookup
            continue
        hits.append(
            Hit(
                rank=len(hits) + 1,
                song_id=best.song_id,
                title=song.title,
                path=song.path,
                score=best.score,
                start_s=max(0.0, best.start_s - offset),
                end_s=max(0.0, best.end_s - offset),
            )
        )
    if rerank:
        hits = rerank_hits(hits, songs, query.melody, query_s=len(audio) / embedder.sample_rate)
    return hits[:k]


def rerank_hits(hits: list[Hit], songs: dict[str, SongDoc], melody: np.ndarray, *, query_s: float,
                context_s: float = melody_rerank.CONTEXT_S,
                dtw_weight: float = melody_rerank.DTW_WEIGHT) -> list[Hit]:
    """Re-order kNN hits by the fused kNN + melody-alignment score (humsearch.melody.rerank.fuse).

    Each song's contour is searched from context_s before the kNN stage's playback start to
    context_s after where the query would end if sung at twice the song's speed (MAX_TEMPO_RATIO).
    A hit's range becomes the aligned range when an alignment was found.

    Args:
        hits: kNN hits, best first.
        songs: the hits' documents (with their melody contours).
        melody: the query's contour.
        query_s: query duration in seconds.
        context_s: seconds searched either side of the kNN match (inf: the whole song).
        dtw_weight: the alignment's share of the fused score (humsearch.melody.rerank.fuse).

    Returns:
        The same songs, re-ranked, with fused scores.
    """
    def align(hit: Hit) -> melody_rerank.Alignment | None:
        region = (
            hit.start_s - context_s,
            hit.start_s + query_s * melody_rerank.MAX_TEMPO_RATIO + context_s,
        )
        return melody_rerank.align(melody, songs[hit.song_id].melody, song_range_s=region)

    with ThreadPoolExecutor(melody_rerank.ALIGN_THREADS) as pool:  # align() runs without the GIL
        alignments = list(pool.map(align, hits))
    fused = melody_rerank.fuse([h.score for h in hits], alignments, dtw_weight=dtw_weight)
    order = sorted(range(len(hits)), key=lambda i: (-fused[i], i))  # ties keep the kNN order
    out = []
    for i in order:
        a = alignments[i]
        hit = replace(hits[i], rank=len(out) + 1, score=float(fused[i]))
        if a is not None:
            hit = replace(hit, start_s=a.playback_start_s, end_s=a.song_end_s)
        out.append(hit)
    return out
