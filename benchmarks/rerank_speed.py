"""Latency the melody re-ranking stage adds to one search.

    python benchmarks/rerank_speed.py [--queries 20] [--candidates 30] [--song-s 240] [--query-s 10]
        [--pitches 2] [--json]

Times `search.rerank_hits` (DTW alignment of the query contour with each candidate's contour
near its kNN match, then fusion) on generated contours: per query, `--candidates` songs of
`--song-s` seconds, one of which holds a transposed, faster, noisy copy of the query; with
`--pitches 2` (what indexes store now) each song step also has a second pitch, from another
random tune, on a third of its steps. No model
and no index are involved: this is exactly the work search() adds when re-ranking is on (the
contours themselves come free with the salience the embedder computes anyway). Prints the
median and 90th percentile over `--queries` queries, after one untimed warm-up (which also
loads or compiles the numba kernel).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))


def contour(rng, seconds: float):
    """A random tune as a contour: notes of 0.24-0.64 s, about a third followed by a short rest."""
    import numpy as np

    from humsearch.melody.contour import CONTOUR_RATE

    n = int(seconds * CONTOUR_RATE)
    pitches = rng.integers(20, 40, n // 3 + 1)
    lengths = rng.integers(3, 9, len(pitches))
    out = np.repeat(pitches, lengths).astype(np.uint8)
    out[np.cumsum(lengths)[:-1][rng.random(len(lengths) - 1) < 0.3]] = 0
    return out[:n]


def run(*, queries: int, candidates: int, song_s: float, query_s: float, pitches: int, seed: int = 0) -> dict:
    """Time rerank_hits on generated queries; returns the numbers the table shows."""
    import numpy as np

    from humsearch.melody.contour import CONTOUR_RATE
    from humsearch.stores.base import SongDoc
    from search import Hit, rerank_hits

    rng = np.random.default_rng(seed)
    voices = np.random.default_rng(seed + 1)  # second pitches: --pitches 1 and 2 get the same queries
    empty = np.zeros(0, np.float32)
    times, right = [], 0
    for q in range(queries + 1):  # the first one warms up
        songs = {f"s{i}": contour(rng, song_s) for i in range(candidates)}
        target = f"s{int(rng.integers(candidates))}"
        start = int(rng.uniform(0, song_s - 2 * query_s) * CONTOUR_RATE)
        steps = np.arange(0, query_s * CONTOUR_RATE * 1.2, 1.2).astype(int)  # sung 20 % faster
        hum = songs[target][start + steps].astype(int)
        hum[hum > 0] += 5
        melody = hum.astype(np.uint8)
        if pitches == 2:
            songs = {sid: np.stack([c, np.where((c > 0) & (voices.random(c.size) < 1 / 3), contour(voices, song_s), 0)])
                     for sid, c in songs.items()}
        docs = {sid: SongDoc(sid, sid, sid, song_s, "", 0.0, 0, np.zeros((0, 1)), empty, empty, melody=c)
                for sid, c in songs.items()}
        # kNN stage's answer: scores in a narrow band, the right song not first, matches near the truth
        hits = [Hit(i + 1, sid, sid, sid, 0.8 - 0.005 * i,
                    start / CONTOUR_RATE + float(rng.uniform(-5, 5)) if sid == target else float(rng.uniform(0, song_s)),
                    0.0) for i, sid in enumerate(rng.permutation(list(songs)))]
        t0 = time.perf_counter()
        ranked = rerank_hits(hits, docs, melody, query_s=len(melody) / CONTOUR_RATE)
        elapsed = time.perf_counter() - t0
        if q:
            times.append(elapsed)
            right += ranked[0].song_id == target
    times_ms = np.array(times) * 1000
    return {
        "queries": queries,
        "candidates": candidates,
        "song_s": song_s,
        "query_s": query_s,
        "median_ms": round(float(np.median(times_ms)), 1),
        "p90_ms": round(float(np.percentile(times_ms, 90)), 1),
        "per_candidate_ms": round(float(np.median(times_ms)) / candidates, 2),
        "pitches": pitches,
        "right_song_first": right / queries,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--queries", type=int, default=20, help="timed queries")
    parser.add_argument("--candidates", type=int, default=30, help="songs re-ranked per query")
    parser.add_argument("--song-s", type=float, default=240.0, help="song length in seconds")
    parser.add_argument("--query-s", type=float, default=10.0, help="query length in seconds")
    parser.add_argument("--pitches", type=int, choices=(1, 2), default=2, help="pitches per song contour step")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    if args.queries < 1 or args.candidates < 1 or args.query_s <= 0 or args.song_s < 2 * args.query_s:
        parser.error("need --queries and --candidates >= 1 and --song-s >= 2 x --query-s > 0")
    result = run(queries=args.queries, candidates=args.candidates, song_s=args.song_s, query_s=args.query_s,
                 pitches=args.pitches)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"re-ranking {result['candidates']} candidates ({result['song_s']:g} s songs, {result['pitches']} pitch(es) "
              f"per step) for a "
              f"{result['query_s']:g} s query: median {result['median_ms']:.1f} ms, p90 {result['p90_ms']:.1f} ms "
              f"({result['per_candidate_ms']:.2f} ms per candidate) over {result['queries']} queries; "
              f"right song first in {result['right_song_first']:.0%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
