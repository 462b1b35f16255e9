"""How well the melody alignment alone ranks the POP909 hold-out hums among all 909 songs.

    python benchmarks/pop909_ceiling.py --index eval-pop909-v4 [--checkpoint humsearch/models/melody.pt]
        [--workers 2] [--json]

The POP909 counterpart of dtw_ceiling.py: every one of `humsearch eval --set pop909`'s 300
hums (evaluation.pop909_queries, same seed) is aligned (humsearch.melody.rerank.align) with
every song, over the whole song (no kNN stage, so no place to search near), and the songs are
ranked by alignment cost. The query side is the model's contour of the hum
(`embed_query(audio).melody`, what search() aligns) unless said otherwise; the song side is

- (a) midi: the song's MELODY track (training.data.melody_notes) as a contour, at the MIDI's
  own tempo (the hums imitate it at x0.7-1.4, inside the alignment's x0.5-2). What the
  alignment could do if the front end heard every song's tune perfectly;
- (b) index: the contour the eval index stores for the rendered arrangement (what the
  re-ranking compares with), read from the local index `--index` built by
  `humsearch --index <name> eval --set pop909 --rebuild` with the same checkpoint;
- (c) sung vs midi: the pitch the synthetic singer actually sang (Query.sung_midi) against
  the MELODY track: the alignment itself, with no front end on either side. Where (a) loses
  against (c), the hum's contour is to blame; what (c) misses, the alignment (or the hums'
  own wrong notes) is.

Ties are broken at random, as expectations (dtw_ceiling.expected_metrics). Query contours are
cached in cache/eval/pop909-ceiling-<checkpoint name>-<content hash>.npz. Evaluation data:
a diagnosis, not a tuning set.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from dtw_ceiling import _cost, _save, expected_metrics, rank_text, to_contour_values  # noqa: E402
from indexer import file_sha256  # noqa: E402

_songs: list[np.ndarray] = []  # each worker's copy of the song contours being ranked


def query_contours(checkpoint: str, cache: Path) -> dict[str, dict[str, tuple[str, np.ndarray]]]:
    """{"model": query id -> (answer stem, the model's contour of the hum), "sung": the same
    with the contour of the pitch the synthetic singer actually sang}."""
    if not cache.exists():
        from humsearch.embedders.melody import MelodyEmbedder
        from humsearch.evaluation import pop909_queries

        embedder = MelodyEmbedder.load(checkpoint)
        arrays = {}
        for q in pop909_queries():
            arrays[f"model|{q.answer}|{q.id}"] = embedder.embed_query(q.audio).melody
            arrays[f"sung|{q.answer}|{q.id}"] = sung_contour(q.sung_midi)
        _save(cache, arrays)
    out: dict[str, dict[str, tuple[str, np.ndarray]]] = {"model": {}, "sung": {}}
    with np.load(cache) as z:
        for key in z.files:
            side, answer, qid = key.split("|")
            out[side][qid] = (answer, z[key])
    return out


def sung_contour(frames_midi: np.ndarray) -> np.ndarray:
    """Per-frame sung pitch -> contour: the median pitch of each step's voiced frames, where
    most of them are voiced (as dtw_ceiling.pv_contour does for a pitch track)."""
    from humsearch.melody.contour import CONTOUR_HOP

    f = np.pad(frames_midi, (0, (-len(frames_midi)) % CONTOUR_HOP)).reshape(-1, CONTOUR_HOP)
    midi = np.zeros(len(f))
    for i, step in enumerate(f):
        on = step[step > 0]
        if 2 * len(on) > CONTOUR_HOP:
            midi[i] = np.median(on)
    return to_contour_values(midi)


def midi_contours(data: Path) -> dict[str, np.ndarray]:
    """song stem -> the MELODY track as a contour (the pitch sounding at each step's centre)."""
    import pretty_midi

    from humsearch.melody.contour import CONTOUR_RATE
    from humsearch.training.data import melody_notes

    out = {}
    for path in sorted((data / "pop909").glob("*.mid")):
        notes = melody_notes(pretty_midi.PrettyMIDI(str(path)))
        centres = (np.arange(int(np.ceil(notes[-1, 1] * CONTOUR_RATE))) + 0.5) / CONTOUR_RATE
        midi = np.zeros(len(centres))
        for on, off, pitch in notes:
            midi[(centres >= on) & (centres < off)] = pitch
        out[f"pop909-{path.stem}"] = to_contour_values(midi)
    return out


def index_contours(index: Path) -> dict[str, np.ndarray]:
    """song stem -> the contour stored in a local index."""
    from humsearch.stores.local import LocalStore

    store = LocalStore(index)
    docs = store.get_songs(list(store.file_states()))
    return {Path(d.path).stem: d.melody for d in docs.values()}


def _init(songs: list[np.ndarray]) -> None:
    global _songs
    _songs = songs


def _costs(query: np.ndarray) -> np.ndarray:
    from humsearch.melody.rerank import align

    return np.array([_cost(align(query, s)) for s in _songs])


def rank_all(queries: dict[str, tuple[str, np.ndarray]], songs: dict[str, np.ndarray],
             workers: int) -> list[tuple[int, int] | None]:
    """(songs cheaper than the answer, other songs exactly as cheap) per query, in query order."""
    stems = sorted(songs)
    items = sorted(queries.items())
    with ProcessPoolExecutor(workers, initializer=_init, initargs=([songs[s] for s in stems],)) as pool:
        all_costs = list(pool.map(_costs, [q for _, (_, q) in items], chunksize=4))
    out: list[tuple[int, int] | None] = []
    for (_, (answer, _)), costs in zip(items, all_costs):
        if answer not in songs:
            out.append(None)
            continue
        right = costs[stems.index(answer)]
        out.append((int(np.sum(costs < right)), int(np.sum(costs == right)) - 1))
    return out


def main(argv: list[str] | None = None) -> int:
    from humsearch.config import Config
    from humsearch.evaluation import DATA_DIR

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--checkpoint", default=str(REPO_ROOT / "humsearch" / "models" / "melody.pt"),
                        help="melody checkpoint whose front end gives the hums' contours (and built --index)")
    parser.add_argument("--index", required=True,
                        help="local eval index of the POP909 set: a name under the data dir, or a folder")
    parser.add_argument("--data", type=Path, default=DATA_DIR, help="shared data folder (pop909/ inside)")
    parser.add_argument("--workers", type=int, default=2, help="processes aligning")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    index = Path(args.index) if Path(args.index).is_dir() else Config.from_env().data_dir / "indexes" / args.index
    if not index.is_dir():
        parser.error(f"no local index at {index}")

    digest = file_sha256(args.checkpoint)[:10]
    cache = REPO_ROOT / "cache" / "eval" / f"pop909-ceiling-{Path(args.checkpoint).stem}-{digest}.npz"
    queries = query_contours(args.checkpoint, cache)
    midi = midi_contours(args.data)
    result: dict = {"queries": len(queries["model"]), "index": str(index)}
    runs = (("a_midi", queries["model"], midi), ("b_index", queries["model"], index_contours(index)),
            ("c_sung_vs_midi", queries["sung"], midi))
    for name, q, songs in runs:
        t0 = time.perf_counter()
        r = rank_all(q, songs, args.workers)
        result[name] = {"songs": len(songs), **expected_metrics(r), "ranks": [rank_text(x) for x in r],
                        "seconds": round(time.perf_counter() - t0, 1)}
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"{result['queries']} hums; index {index}")
        for name, _, _ in runs:
            m = result[name]
            print(f"  {name:8s} {m['songs']} songs  top-1 {m['top1']:.3f}  top-10 {m['top10']:.3f}"
                  f"  MRR {m['mrr']:.3f}  ({m['seconds']:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
