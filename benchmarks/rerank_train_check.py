"""What the melody alignment alone can do, measured on POP909 *training* songs (never eval data).

    python benchmarks/rerank_train_check.py --checkpoint runs/interim-salience.pt [--songs 100] [--hums 2]
        [--cap 3] [--json]

Reads the training cache (cache/train, built by `python -m humsearch.training.data`): for the
first --songs songs, the contour of their first rendered arrangement and of their first --hums
synthetic hums, all read off the checkpoint's salience map. Every hum is aligned with every song
(humsearch.melody.rerank.align) and ranked by alignment cost, twice:

- whole song: DTW alone, no help from the kNN stage;
- near the truth: each song searched only around a place (for the right song: where the hummed
  passage really is, as if the kNN stage had found it; for the others: a random place), with the
  same range search() uses; this is the re-ranker's view when the kNN stage is right about the place.

This is the set to tune the re-ranker's constants on (MIR-QBSH and the POP909 hold-out are
evaluation data). Use `nice`: it takes a few minutes on two cores.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))


def load_contours(cache: Path, checkpoint: str, songs: int, hums: int) -> tuple[list, list]:
    """(song contours, [(song index, hum contour, passage start in the song's seconds, hum seconds)])."""
    import numpy as np
    import torch

    from humsearch.constants import FRAMES_PER_SECOND
    from humsearch.embedders.melody import MelodyEmbedder
    from humsearch.melody.contour import contour_from_salience
    from humsearch.training.data import holdout_ids

    model = MelodyEmbedder.load(checkpoint).model
    held_out = {f"pop909-{h}" for h in holdout_ids()}
    # Files of a build that predates hum_meta (data.py before it was restored) are skipped.
    files = [f for f in sorted(cache.glob("pop909-*.npz")) if f.stem not in held_out and "hum_meta" in np.load(f)]
    files = files[:songs]

    def contour(spec: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return contour_from_salience(model.salience(torch.from_numpy(spec.astype(np.float32))[None])[0])

    song_contours, queries = [], []
    for i, f in enumerate(files):
        z = np.load(f)
        song_contours.append(contour(z["spec0"]))
        for (a, b), meta in list(zip(z["hum_bounds"], z["hum_meta"]))[:hums]:
            queries.append((i, contour(z["hum_spec"][:, a:b]), float(meta[0] * z["scale0"]),
                            (b - a) / FRAMES_PER_SECOND))
    return song_contours, queries


def ranks(song_contours: list, queries: list, *, near_truth: bool, seed: int = 0) -> tuple[list, list, list]:
    """Rank of the right song per query, and the right / best-wrong costs."""
    import numpy as np

    from humsearch.melody import rerank
    from humsearch.melody.contour import CONTOUR_RATE

    rng = np.random.default_rng(seed)
    out, right_costs, wrong_costs = [], [], []
    for answer, hum, start_s, hum_s in queries:
        costs = []
        for i, song in enumerate(song_contours):
            region = None
            if near_truth:
                at = start_s if i == answer else rng.uniform(0, len(song) / CONTOUR_RATE)
                region = (at - rerank.CONTEXT_S, at + hum_s * rerank.MAX_TEMPO_RATIO + rerank.CONTEXT_S)
            a = rerank.align(hum, song, song_range_s=region)
            costs.append(1.0 if a is None else a.cost)
        costs = np.array(costs)
        out.append(int(np.sum(costs < costs[answer])) + 1)
        right_costs.append(float(costs[answer]))
        wrong_costs.append(float(np.min(np.delete(costs, answer))))
    return out, right_costs, wrong_costs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--checkpoint", required=True, help="melody checkpoint (its salience front end is used)")
    parser.add_argument("--cache", type=Path, default=REPO_ROOT / "cache" / "train", help="training cache")
    parser.add_argument("--songs", type=int, default=100, help="training songs")
    parser.add_argument("--hums", type=int, default=2, help="hums per song")
    parser.add_argument("--cap", type=float, default=None, help="override COST_CAP_SEMITONES")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    if not args.cache.is_dir():
        parser.error(f"no training cache at {args.cache}: python -m humsearch.training.data --out {args.cache}")

    import numpy as np

    from humsearch.evaluation import metrics
    from humsearch.melody import rerank

    if args.cap is not None:
        rerank.COST_CAP_SEMITONES = args.cap
    t0 = time.perf_counter()
    song_contours, queries = load_contours(args.cache, args.checkpoint, args.songs, args.hums)
    result = {"songs": len(song_contours), "queries": len(queries), "cap": rerank.COST_CAP_SEMITONES,
              "contours_s": round(time.perf_counter() - t0, 1)}
    for mode in ("whole_song", "near_truth"):
        t0 = time.perf_counter()
        r, right, wrong = ranks(song_contours, queries, near_truth=mode == "near_truth")
        result[mode] = {**metrics(r, k=10), "right_cost_median": round(float(np.median(right)), 3),
                        "best_wrong_cost_median": round(float(np.median(wrong)), 3),
                        "seconds": round(time.perf_counter() - t0, 1)}
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"{result['queries']} hums of {result['songs']} training songs (cap {result['cap']:g} semitones)")
        for mode in ("whole_song", "near_truth"):
            m = result[mode]
            print(f"  {mode:11s} top-1 {m['top1']:.3f}  top-10 {m['top10']:.3f}  MRR {m['mrr']:.3f}  "
                  f"cost right {m['right_cost_median']:.3f} vs best wrong {m['best_wrong_cost_median']:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
