"""How many kNN candidates the melody stage should re-order, and how much of each song it searches.

    python benchmarks/rerank_depth.py --set mirqbsh [--checkpoint PATH] [--index NAME]
        [--candidates 10 30 60 100 200] [--context 15 inf] [--pitches 1 2] [--weights 0.7 0.9]
        [--limit N] [--json]

Builds (or updates) the evaluation index like `humsearch eval` (local backend unless
HUMSEARCH_BACKEND says otherwise), then runs every query of the set once through the kNN stage
(search with re-ranking off, the largest --candidates songs) and re-ranks the best N of them for
each N and each --context (seconds searched either side of the kNN match; inf: the whole song)
exactly as search() does (search.rerank_hits), with the songs' stored contours cut to each
--pitches rows (1: the strongest pitch per step only, as indexes built before the two-row
contours stored), fused with each of --weights (the alignment's share, rerank.DTW_WEIGHT by
default). Prints, per setting, top-1 / top-10 / MRR, the
recall of the kNN pool (answer among the N candidates) and the median time the re-ranking
took per query. Row "knn" is the kNN order alone. All rows come from the same run.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from humsearch.melody.contour import SONG_CANDIDATES  # noqa: E402
from humsearch.melody.rerank import DTW_WEIGHT  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--set", dest="query_set", choices=("mirqbsh", "pop909"), default="mirqbsh")
    parser.add_argument("--checkpoint", default=None, help="melody checkpoint (default: the shipped one)")
    parser.add_argument("--index", default=None, help="index name (default: eval-<set>-melody)")
    parser.add_argument("--cache", type=Path, default=REPO_ROOT / "cache" / "eval", help="rendered catalogs")
    parser.add_argument("--candidates", type=int, nargs="+", default=[10, 30, 60, 100, 200])
    parser.add_argument("--context", type=float, nargs="+", default=[15.0, float("inf")])
    parser.add_argument("--pitches", type=int, nargs="+", default=[SONG_CANDIDATES],
                        help="rows of the songs' contours the alignment may use (candidates per step)")
    parser.add_argument("--weights", type=float, nargs="+", default=[DTW_WEIGHT],
                        help="shares of the alignment in the fused score (rerank.fuse)")
    parser.add_argument("--limit", type=int, default=None, help="only the first N catalog songs")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    import librosa

    from humsearch import evaluation
    from humsearch.config import Config
    from humsearch.embedders import load_embedder
    from humsearch.evaluation import metrics
    from humsearch.stores import open_store
    from indexer import index_folder
    from search import rerank_hits, search

    config = Config.from_env(index=args.index or f"eval-{args.query_set}-melody", checkpoint=args.checkpoint)
    embedder = load_embedder("melody", checkpoint=config.checkpoint, threads=config.threads)
    store = open_store(config)
    if args.query_set == "mirqbsh":
        catalog = evaluation.build_mirqbsh_catalog(args.cache / "mirqbsh-catalog", limit=args.limit)
        queries = evaluation.mirqbsh_queries()
    else:
        catalog = evaluation.build_pop909_catalog(args.cache / "pop909-catalog", limit=args.limit)
        queries = evaluation.pop909_queries()
    stems = {p.stem for p in catalog.glob("*.flac")}
    queries = [q for q in queries if q.answer in stems]
    t0 = time.perf_counter()
    index_folder([catalog], embedder=embedder, store=store)
    print(f"index up to date ({time.perf_counter() - t0:.0f} s); {len(queries)} queries, {len(stems)} songs",
          file=sys.stderr)

    pool = max(args.candidates)
    rows: dict[str, dict] = {}
    ranks: dict[str, list] = {"knn": []}
    timings: dict[str, list] = {}
    for q in queries:
        audio = q.audio if q.sr == embedder.sample_rate else librosa.resample(
            q.audio, orig_sr=q.sr, target_sr=embedder.sample_rate)
        hits = search(audio, embedder=embedder, store=store, k=pool, rerank=False)
        melody = embedder.embed_query(audio).melody
        stored = store.get_songs(h.song_id for h in hits)
        order = [Path(h.path).stem for h in hits]
        ranks["knn"].append(order.index(q.answer) + 1 if q.answer in order else None)
        for pitches in args.pitches:
            songs = {i: replace(d, melody=None if d.melody is None else np.atleast_2d(d.melody)[:pitches])
                     for i, d in stored.items()}
            for n, ctx, w in itertools.product(args.candidates, args.context, args.weights):
                key = f"n={n} context={'song' if np.isinf(ctx) else f'{ctx:g}s'} pitches={pitches} w={w:g}"
                t = time.perf_counter()
                reranked = rerank_hits(hits[:n], songs, melody, query_s=len(audio) / embedder.sample_rate,
                                       context_s=ctx, dtw_weight=w) + hits[n:]
                timings.setdefault(key, []).append(time.perf_counter() - t)
                order = [Path(h.path).stem for h in reranked]
                ranks.setdefault(key, []).append(order.index(q.answer) + 1 if q.answer in order else None)
                rows.setdefault(key, {"candidates": n})
    for key, r in ranks.items():
        row = rows.setdefault(key, {"candidates": pool})
        row.update(metrics(r))
        row["recall_of_pool"] = float(np.mean([x is not None and x <= row["candidates"] for x in ranks["knn"]]))
        row["rerank_ms_median"] = round(1000 * float(np.median(timings[key])), 1) if key in timings else 0.0
        row["ranks"] = r
    result = {"set": args.query_set, "model_version": embedder.version, "queries": len(queries),
              "catalog_songs": len(stems), "rows": rows}
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"{args.query_set}: {len(queries)} queries, {len(stems)} songs, {embedder.version}")
        for key, row in rows.items():
            print(f"  {key:40s} top-1 {row['top1']:.3f}  top-10 {row['top10']:.3f}  MRR {row['mrr']:.3f}"
                  f"  pool recall {row['recall_of_pool']:.3f}  re-rank {row['rerank_ms_median']:.0f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
