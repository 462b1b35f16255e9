"""Ways to fuse the kNN and melody-alignment scores, compared on synthetic hums of cached songs.

    python benchmarks/rerank_fusion_check.py --checkpoint runs/melody-v8.pt --cache cache/tuning
        --queries all [--songs 400] [--candidates 100] [--json]

The tuning set for `humsearch.melody.rerank.fuse` (MIR-QBSH and the POP909 hold-out are
evaluation data). From a cache of rendered songs with synthetic hums (humsearch.training.data):

- catalog: the first rendering of each of the first --songs songs (by file name, the trainer's
  order), embedded like `embed_song` (window vectors and contour from one salience map);
- queries, `--queries all`: every synthetic hum of every catalog song. For a cache of songs the
  model never trained on: cache/tuning, music21 corpus tunes (the training cache has none),
  `python -m humsearch.training.data --out cache/tuning --pop909 0 --corpus 400`;
- queries, `--queries val`: the hums of the trainer's validation songs in its own cache (the
  first TrainConfig.val_songs files). Their renderings were not trained on but their melodies
  were (faint-pop909-001 is pop909-001 with another lead), which flatters the kNN stage: the
  fusion weight chosen there leaned towards kNN compared with both evaluation sets.

Each query goes through the two search stages as search() runs them: the kNN stage ranks songs
by their best (query window, song window) cosine and says where the query starts in each; the
--candidates best are aligned near that place (the range search.rerank_hits uses), and each
fusion rule re-orders them. Songs below the candidates keep their kNN rank. The rules:

- knn: the kNN order (no re-ranking); dtw: alignment similarity alone (ties: kNN order);
- mean: (1 - w) cosine + w (1 - alignment cost), for a few w: humsearch.melody.rerank.fuse with
  dtw_weight w (the rule before this check: w 0.5);
- zscore: each stage's scores standardized over the candidate list, then added;
- ranks: the sum of the two stages' ranks within the candidate list (Borda);
- rrf: reciprocal rank fusion, 1 / (60 + kNN rank) + 1 / (60 + alignment rank);
- fuse: humsearch.melody.rerank.fuse at its DTW_WEIGHT, the rule search() uses.

A candidate without an alignment counts as the worst-aligned one. Use `nice`: embedding the
catalog takes a few minutes on two cores; the embeddings are cached under cache/, so reruns
only align and fuse.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

RRF_K = 60  # the usual constant of reciprocal rank fusion (Cormack et al. 2009)


def load_embeddings(cache: Path, checkpoint: str, songs: int, queries_from: str, store: Path,
                    hum_voiced: float | None = None) -> tuple[list, list]:
    """(song embeddings, [(answer index, query embedding)]); cached in `store`. With `hum_voiced`,
    the queries' contours use that voicing threshold instead of the search's."""
    import torch

    from humsearch.embedders.base import QueryEmbedding, SongEmbedding
    from humsearch.embedders.melody import MelodyEmbedder
    from humsearch.melody.contour import contour_from_salience
    from humsearch.training.train import TrainConfig

    if store.exists():
        with np.load(store) as z:
            n_songs, n_queries = int(z["n_songs"]), int(z["n_queries"])
            song_embs = [SongEmbedding(*(z[f"s{i}_{k}"] for k in ("v", "t", "m"))) for i in range(n_songs)]
            queries = [(int(z[f"q{i}_a"]), QueryEmbedding(*(z[f"q{i}_{k}"] for k in ("v", "t", "m"))))
                       for i in range(n_queries)]
        return song_embs, queries
    embedder = MelodyEmbedder.load(checkpoint)
    files = sorted(cache.glob("*.npz"))  # the trainer's order: its validation songs come first
    catalog = files[:songs]
    queried = catalog if queries_from == "all" else files[: TrainConfig().val_songs]
    missing = [f.stem for f in queried if f not in catalog]
    if missing:
        raise SystemExit(f"--songs {songs} leaves out validation songs {missing}")

    def salience(spec: np.ndarray) -> torch.Tensor:
        with torch.inference_mode():
            return embedder.model.salience(torch.from_numpy(spec.astype(np.float32))[None])[0]

    song_embs, queries = [], []
    t0 = time.perf_counter()
    for i, f in enumerate(catalog):
        with np.load(f) as z:
            song_embs.append(embedder.song_from_salience(salience(z["spec0"])))
            if f in queried:
                for a, b in z["hum_bounds"]:
                    sal = salience(z["hum_spec"][:, a:b])
                    query = embedder.query_from_salience(sal)
                    if hum_voiced is not None:
                        query = query._replace(melody=contour_from_salience(sal, voiced=hum_voiced))
                    queries.append((i, query))
        if (i + 1) % 25 == 0:
            print(f"  embedded {i + 1}/{len(catalog)} songs ({time.perf_counter() - t0:.0f} s)", file=sys.stderr)
    arrays: dict[str, np.ndarray] = {"n_songs": np.array(len(song_embs)), "n_queries": np.array(len(queries))}
    for i, e in enumerate(song_embs):
        arrays.update({f"s{i}_v": e.vectors, f"s{i}_t": e.starts_s, f"s{i}_m": e.melody})
    for i, (a, e) in enumerate(queries):
        arrays.update({f"q{i}_a": np.array(a), f"q{i}_v": e.vectors, f"q{i}_t": e.offsets_s, f"q{i}_m": e.melody})
    store.parent.mkdir(parents=True, exist_ok=True)
    np.savez(store, **arrays)
    return song_embs, queries


def knn_stage(query, song_embs: list) -> tuple[np.ndarray, np.ndarray]:
    """Per song: best (query window, song window) cosine, and where the query starts in the song
    (the best song window's start minus the best query window's offset, clipped at 0)."""
    scores, starts = np.empty(len(song_embs)), np.empty(len(song_embs))
    for i, song in enumerate(song_embs):
        sim = query.vectors @ song.vectors.T
        qi, si = np.unravel_index(int(np.argmax(sim)), sim.shape)
        scores[i] = sim[qi, si]
        starts[i] = max(0.0, float(song.starts_s[si] - query.offsets_s[qi]))
    return scores, starts


def _ranks(values: np.ndarray) -> np.ndarray:
    """1 for the highest value; ties share the better rank."""
    order = np.argsort(-values, kind="stable")
    ranks = np.empty(len(values))
    ranks[order] = np.arange(1, len(values) + 1)
    for v in np.unique(values):
        same = values == v
        ranks[same] = ranks[same].min()
    return ranks


def _z(values: np.ndarray) -> np.ndarray:
    sd = values.std()
    return (values - values.mean()) / sd if sd > 0 else np.zeros_like(values)


def rules() -> dict[str, Callable]:
    """Fusion rules: f(kNN cosines, alignment similarities, alignments) -> scores, higher is better."""
    from humsearch.melody.rerank import fuse

    out: dict[str, Callable] = {"knn": lambda knn, sim, al: knn, "dtw": lambda knn, sim, al: sim}
    for w in (0.3, 0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95):
        out[f"mean w={w}"] = lambda knn, sim, al, w=w: fuse(knn, al, dtw_weight=w)
    out["zscore"] = lambda knn, sim, al: _z(knn) + _z(sim)
    out["ranks"] = lambda knn, sim, al: -(_ranks(knn) + _ranks(sim))
    out["rrf"] = lambda knn, sim, al: 1 / (RRF_K + _ranks(knn)) + 1 / (RRF_K + _ranks(sim))
    out["fuse"] = lambda knn, sim, al: fuse(knn, al)
    return out


def evaluate(song_embs: list, queries: list, *, candidates: int) -> dict[str, list[int]]:
    """Rank of the answer per query under each rule."""
    from humsearch.melody import rerank
    from humsearch.melody.contour import CONTOUR_RATE

    fusions = rules()
    out: dict[str, list[int]] = {name: [] for name in fusions}
    for answer, query in queries:
        knn, starts = knn_stage(query, song_embs)
        order = np.argsort(-knn, kind="stable")
        knn_rank = int(np.flatnonzero(order == answer)[0]) + 1
        cands = order[:candidates]
        query_s = len(query.melody) / CONTOUR_RATE
        als = [rerank.align(query.melody, song_embs[c].melody,
                            song_range_s=(starts[c] - rerank.CONTEXT_S,
                                          starts[c] + query_s * rerank.MAX_TEMPO_RATIO + rerank.CONTEXT_S))
               for c in cands]
        sim = np.array([a.similarity if a is not None else np.nan for a in als])
        sim = np.where(np.isnan(sim), np.nanmin(sim) if np.isfinite(sim).any() else 0.0, sim)
        for name, rule in fusions.items():
            if knn_rank > candidates:
                out[name].append(knn_rank)
                continue
            fused = rule(knn[cands], sim, als)
            ranked = sorted(range(len(cands)), key=lambda i: (-fused[i], i))  # ties keep the kNN order
            out[name].append(ranked.index(knn_rank - 1) + 1)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--checkpoint", required=True, help="melody checkpoint")
    parser.add_argument("--cache", type=Path, default=REPO_ROOT / "cache" / "tuning",
                        help="cache of rendered songs with hums (humsearch.training.data)")
    parser.add_argument("--queries", choices=("all", "val"), default="all",
                        help="hums of every catalog song, or of the trainer's validation songs only")
    parser.add_argument("--songs", type=int, default=400, help="catalog: the first N songs of the cache")
    parser.add_argument("--candidates", type=int, default=100, help="kNN candidates re-ranked (search.py: 100)")
    parser.add_argument("--hum-voiced", type=float, default=None,
                        help="voicing threshold of the queries' contours [contour.VOICED_SALIENCE]")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    if not args.cache.is_dir():
        parser.error(f"no song cache at {args.cache}: "
                     f"python -m humsearch.training.data --out {args.cache} --pop909 0 --corpus 400")

    from humsearch.evaluation import metrics
    from indexer import file_sha256

    digest = file_sha256(args.checkpoint)[:10]  # a retrained file is new
    hum = "" if args.hum_voiced is None else f"-hum{args.hum_voiced:g}"
    store = REPO_ROOT / "cache" / (f"fusion-check-{args.cache.name}-{args.queries}-"
                                   f"{Path(args.checkpoint).stem}-{digest}-{args.songs}{hum}.npz")
    song_embs, queries = load_embeddings(args.cache, args.checkpoint, args.songs, args.queries, store,
                                         args.hum_voiced)
    t0 = time.perf_counter()
    ranks = evaluate(song_embs, queries, candidates=args.candidates)
    result = {"cache": args.cache.name, "queries_from": args.queries, "hum_voiced": args.hum_voiced,
              "songs": len(song_embs), "queries": len(queries), "candidates": args.candidates,
              "seconds": round(time.perf_counter() - t0, 1),
              "rules": {name: metrics(r, k=10) for name, r in ranks.items()}}
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        who = "catalog songs" if args.queries == "all" else "the trainer's validation songs"
        print(f"{result['queries']} hums of {who} among {result['songs']} songs of {args.cache}, "
              f"{result['candidates']} candidates re-ranked")
        for name, m in result["rules"].items():
            print(f"  {name:10s} top-1 {m['top1']:.3f}  top-10 {m['top10']:.3f}  MRR {m['mrr']:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
