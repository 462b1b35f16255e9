"""How well the melody alignment alone ranks the MIR-QBSH catalog for the 19 dev queries.

    python benchmarks/dtw_ceiling.py [--checkpoint humsearch/models/melody.pt] [--voiced 0.3]
        [--song-voiced 0.2] [--pitches 2] [--skip-audio] [--json]

Every query is aligned (humsearch.melody.rerank.align) with every catalog song and the songs
are ranked by alignment cost, no kNN stage involved, for two kinds of contours:

- (a) symbolic: the query's true pitch track (the .pv file, Hz every 10 ms) against the song's
  MIDI melody, both turned into 12.5 steps/s semitone contours here. This is the ceiling of the
  alignment itself, and the setting of the classic DTW baseline (baseline-dtw-dev.txt).
- (b) audio: the contour the model reads off the voiced query (evaluation.mirqbsh_queries)
  against the contour it reads off the rendered catalog song (what the index stores:
  `embed_song(audio).melody`, computed here from the same salience without the window vectors;
  --pitches 1 keeps only its strongest pitch per step and --song-voiced 0.3 its surer steps,
  as indexes built before the two-row song contours did).
- (c) the model's query contour against the MIDI melody: where (b) loses against (a), this
  says which side's contour is to blame.

Songs of equal cost are ranked in random order (expected top-1, top-10 and MRR: folk tunes
share phrases note for note). Each set is measured with the song restricted to its first 30 s
(the dev queries are sung from the start, and the kNN stage would point there) and on whole
songs. Model contours are cached in
cache/eval/dtw-ceiling-<checkpoint name>-<content hash>-peaks<n>.npz (a retrained melody.pt is a
new file), so a rerun only aligns (and contours any song rendered since). Evaluation data:
measure here, tune on training songs (rerank_train_check.py).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from humsearch.constants import PITCH_MIDI_LOW  # noqa: E402
from humsearch.evaluation import DATA_DIR  # noqa: E402
from humsearch.melody.contour import CONTOUR_RATE, SONG_CANDIDATES, SONG_VOICED_SALIENCE, VOICED_SALIENCE  # noqa: E402
from indexer import file_sha256  # noqa: E402

PV_FRAME_S = 0.01  # MIR-QBSH pitch tracks: one value every 10 ms
START_S = 30.0  # song seconds the start-restricted measurement searches


def to_contour_values(midi: np.ndarray) -> np.ndarray:
    """MIDI pitches (0 = unvoiced) -> contour values (1 + semitones above PITCH_MIDI_LOW, 0 = unvoiced)."""
    midi = np.asarray(midi, dtype=float)
    values = np.clip(np.round(midi) - PITCH_MIDI_LOW + 1, 1, 255)
    return np.where(midi > 0, values, 0).astype(np.uint8)


def pv_contour(path: Path) -> np.ndarray:
    """A .pv pitch track (Hz every 10 ms, 0 = unvoiced) as a contour: a step is voiced when most of
    its frames are, and takes the median pitch of its voiced frames."""
    hz = np.loadtxt(path)[:, 1]
    per_step = int(round(1 / (CONTOUR_RATE * PV_FRAME_S)))  # 8 frames of 10 ms per 80 ms step
    hz = np.pad(hz, (0, (-len(hz)) % per_step)).reshape(-1, per_step)
    midi = np.zeros(len(hz))
    for i, frames in enumerate(hz):
        on = frames[frames > 0]
        if 2 * len(on) > per_step:
            midi[i] = np.median(69 + 12 * np.log2(on / 440.0))
    return to_contour_values(midi)


def midi_contour(path: Path) -> np.ndarray:
    """A monophonic MIDI melody as a contour: the pitch sounding at the centre of each step
    (the highest one if notes overlap), 0 where no note sounds."""
    import pretty_midi

    pm = pretty_midi.PrettyMIDI(str(path))
    notes = [n for inst in pm.instruments if not inst.is_drum for n in inst.notes]
    end = max((n.end for n in notes), default=0.0)
    centres = (np.arange(int(np.ceil(end * CONTOUR_RATE))) + 0.5) / CONTOUR_RATE
    midi = np.zeros(len(centres))
    for n in notes:
        on = (centres >= n.start) & (centres < n.end)
        midi[on] = np.maximum(midi[on], n.pitch)
    return to_contour_values(midi)


def model_contours(checkpoint: str, catalog: Path, cache: Path, *, voiced: float, song_voiced: float,
                   pitches: int) -> tuple[dict, dict]:
    """(song stem -> contour, query id -> contour) from the checkpoint's salience; songs keep
    `pitches` pitches per step (at most SONG_CANDIDATES), queries one.

    The contours before the voicing decision (humsearch.melody.contour.contour_peaks, with
    SONG_CANDIDATES rows) are cached in `cache`, so other voicing thresholds or numbers of
    pitches cost nothing either."""
    from humsearch.audio import load_audio
    from humsearch.embedders.melody import MelodyEmbedder
    from humsearch.evaluation import mirqbsh_queries
    from humsearch.melody.contour import contour_peaks

    stored: dict[str, np.ndarray] = {}
    if cache.exists():
        with np.load(cache) as z:
            stored = {k: z[k] for k in z.files}
    files = sorted(catalog.glob("*.flac"))
    missing = [f for f in files if f"song:{f.stem}" not in stored]
    have_queries = any(k.startswith("query:") for k in stored)
    if missing or not have_queries:
        embedder = MelodyEmbedder.load(checkpoint)

        def peaks(key: str, audio: np.ndarray) -> None:
            # The salience embed_song / embed_query read their contour from (no window vectors).
            values, peak = contour_peaks(embedder.salience(audio).cpu(), candidates=SONG_CANDIDATES)
            stored[key], stored["peak:" + key] = values, peak.astype(np.float16)

        if not have_queries:
            for q in mirqbsh_queries():
                peaks(f"query:{q.id}", q.audio)
        t0 = time.perf_counter()
        for i, f in enumerate(missing):
            peaks(f"song:{f.stem}", load_audio(f, sr=embedder.sample_rate))
            if (i + 1) % 100 == 0 or i + 1 == len(missing):
                print(f"  contours: {i + 1}/{len(missing)} songs ({time.perf_counter() - t0:.0f} s)", file=sys.stderr)
                _save(cache, stored)
        _save(cache, stored)

    def contours(prefix: str, rows: int, threshold: float) -> dict[str, np.ndarray]:
        out = {k[len(prefix):]: np.where(stored["peak:" + k] >= threshold, v, 0).astype(np.uint8)[:rows]
               for k, v in stored.items() if k.startswith(prefix)}
        return {k: v[0] if rows == 1 else v for k, v in out.items()}

    return contours("song:", pitches, song_voiced), contours("query:", 1, voiced)


def contour_cache(checkpoint: str) -> Path:
    """Where model_contours keeps a checkpoint's contours: named by its content, so a retrained
    file with the same name is a new cache."""
    digest = file_sha256(checkpoint)[:10]
    return REPO_ROOT / "cache" / "eval" / f"dtw-ceiling-{Path(checkpoint).stem}-{digest}-peaks{SONG_CANDIDATES}.npz"


def _save(cache: Path, arrays: dict[str, np.ndarray]) -> None:
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_name(cache.stem + ".part.npz")
    np.savez(tmp, **arrays)
    tmp.replace(cache)


def rank_all(queries: dict[str, np.ndarray], songs: dict[str, np.ndarray], *,
             start_only: bool) -> list[tuple[int, int] | None]:
    """(songs cheaper than the answer, other songs exactly as cheap) per query; None when the
    answer is not among `songs`. A song that cannot be aligned costs infinity."""
    from humsearch.melody.rerank import align

    stems = sorted(songs)
    out: list[tuple[int, int] | None] = []
    for qid, q in sorted(queries.items()):
        answer = qid.split("_")[2]
        if answer not in songs:
            out.append(None)
            continue
        costs = np.array([_cost(align(q, songs[s], song_range_s=(0.0, START_S) if start_only else None))
                          for s in stems])
        right = costs[stems.index(answer)]
        out.append((int(np.sum(costs < right)), int(np.sum(costs == right)) - 1))
    return out


def expected_metrics(ranks: list[tuple[int, int] | None], *, k: int = 10) -> dict[str, float]:
    """top-1, top-k and MRR with ties broken at random, as expectations.

    Several catalog songs can share a phrase note for note (folk tunes do), and then their
    costs are equal: counting every tie against the answer, or for it, would both mislead."""
    top1 = topk = rr = 0.0
    for r in ranks:
        if r is None:
            continue
        better, tied = r
        places = better + 1 + np.arange(tied + 1)  # equally likely ranks of the answer
        top1 += float(np.mean(places == 1))
        topk += float(np.mean(places <= k))
        rr += float(np.mean(1.0 / places))
    n = max(len(ranks), 1)
    return {"queries": len(ranks), "top1": top1 / n, f"top{k}": topk / n, "mrr": rr / n}


def _cost(alignment) -> float:
    return np.inf if alignment is None else alignment.cost


def rank_text(r: tuple[int, int] | None) -> str:
    if r is None:
        return "-"
    return f"{r[0] + 1}" + (f"(+{r[1]} tied)" if r[1] else "")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--checkpoint", default=str(REPO_ROOT / "humsearch" / "models" / "melody.pt"),
                        help="melody checkpoint whose salience gives the audio contours")
    parser.add_argument("--catalog", type=Path, default=REPO_ROOT / "cache" / "eval" / "mirqbsh-catalog",
                        help="rendered MIR-QBSH catalog (evaluation.build_mirqbsh_catalog)")
    parser.add_argument("--data", type=Path, default=DATA_DIR / "mir-qbsh", help="MIR-QBSH folder")
    parser.add_argument("--voiced", type=float, default=VOICED_SALIENCE,
                        help="peak salience above which a step of a query's model contour counts as melody")
    parser.add_argument("--song-voiced", type=float, default=SONG_VOICED_SALIENCE,
                        help="the same for the songs' model contours")
    parser.add_argument("--pitches", type=int, default=SONG_CANDIDATES, choices=range(1, SONG_CANDIDATES + 1),
                        help="pitches per step of the songs' model contours (rerank_depth.py --pitches)")
    parser.add_argument("--skip-audio", action="store_true", help="only (a), the symbolic contours")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    if not (args.data / "queries-dev").is_dir():
        parser.error(f"no MIR-QBSH dev queries under {args.data}")

    pv = {p.stem: pv_contour(p) for p in sorted((args.data / "queries-dev").glob("*.pv"))}
    midi = {p.stem: midi_contour(p) for p in sorted((args.data / "catalog-midi").glob("*.mid"))}
    result: dict = {"queries": len(pv), "midi_songs": len(midi)}
    sets = {"a_symbolic": (pv, midi)}
    if not args.skip_audio:
        if not args.catalog.is_dir():
            parser.error(f"no rendered catalog at {args.catalog}")
        songs, queries = model_contours(args.checkpoint, args.catalog, contour_cache(args.checkpoint),
                                        voiced=args.voiced, song_voiced=args.song_voiced, pitches=args.pitches)
        result.update(audio_songs=len(songs), voiced=args.voiced, song_voiced=args.song_voiced,
                      pitches=args.pitches)
        sets["b_audio"] = (queries, songs)
        sets["c_audio_query_vs_midi"] = (queries, midi)
    for name, (q, s) in sets.items():
        for start_only in (True, False):
            t0 = time.perf_counter()
            r = rank_all(q, s, start_only=start_only)
            key = f"{name}/{'first_30s' if start_only else 'whole_song'}"
            result[key] = {**expected_metrics(r), "ranks": [rank_text(x) for x in r], "seconds": round(time.perf_counter() - t0, 1)}
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"{result['queries']} dev queries; {result['midi_songs']} MIDI songs"
              + (f", {result['audio_songs']} rendered songs" if "audio_songs" in result else ""))
        for key, m in result.items():
            if isinstance(m, dict):
                ranks = " ".join(m["ranks"])
                print(f"  {key:24s} top-1 {m['top1']:.3f}  top-10 {m['top10']:.3f}  MRR {m['mrr']:.3f}"
                      f"  ({m['seconds']:.0f} s)  ranks {ranks}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
