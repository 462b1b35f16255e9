"""Which errors of the songs' model contours cost the melody alignment its ranks (MIR-QBSH)?

    python benchmarks/contour_oracle.py [--checkpoint humsearch/models/melody.pt] [--json]

Compares each rendered catalog song's contour (what the index stores, from the dtw_ceiling.py
cache, which this builds if it is missing) with its MIDI melody over the first 30 s, and
counts three kinds of error per step: a false alarm (melody heard where the MIDI has none), a
miss (MIDI melody, nothing heard: peak salience under the voicing threshold) and a wrong pitch
(both voiced, strongest pitch more than a semitone off, octaves forgiven). Then it repairs one
kind at a time with the MIDI's own steps (in the strongest row; a second row stays as the model
heard it, emptied only where a false alarm is), once in every catalog song and once in the
answers only (is it the right song's contour that loses, or a distractor's that wins?), and
ranks the catalog for the 19 dev queries by alignment alone (as dtw_ceiling.py's first-30-s
row does). The repair that recovers most of the gap to the symbolic ceiling is the error to
work on. An oracle: the repaired contours use the answers, so its rows are diagnoses, never
results.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))
sys.path.insert(0, str(REPO_ROOT / "benchmarks"))

import dtw_ceiling  # noqa: E402
from humsearch.melody.contour import SONG_CANDIDATES, SONG_VOICED_SALIENCE, VOICED_SALIENCE  # noqa: E402

MAX_LAG_STEPS = 15  # the renderer may shift a song by a few steps against its MIDI


def reference_in_song_time(model: np.ndarray, midi: np.ndarray) -> np.ndarray:
    """The MIDI contour shifted by the lag (within MAX_LAG_STEPS) at which it agrees best with
    the model contour's strongest row, cut or padded to the model contour's length."""
    def agreement(lag: int) -> int:
        a, b = model[max(0, lag):].astype(int), midi[max(0, -lag):].astype(int)
        n = min(len(a), len(b))
        a, b = a[:n], b[:n]
        return int(np.sum((a > 0) & (b > 0) & (np.abs(a - b) <= 1)))

    lag = max(range(-MAX_LAG_STEPS, MAX_LAG_STEPS + 1), key=agreement)
    src = np.arange(len(model)) - lag
    ok = (src >= 0) & (src < len(midi))
    out = np.zeros(len(model), np.uint8)
    out[ok] = midi[src[ok]]
    return out


def repairs(contour: np.ndarray, ref: np.ndarray) -> tuple[dict[str, float], dict[str, np.ndarray]]:
    """Error rates of a (rows, steps) song contour against its reference over the first 30 s,
    and the contour with each kind of error repaired from the reference."""
    top, r = contour[0].astype(int), ref.astype(int)
    false_alarm = (top > 0) & (r == 0)
    miss = (top == 0) & (r > 0)
    diff = np.abs(top - r)
    wrong = (top > 0) & (r > 0) & (np.minimum(diff, np.abs(diff - 12)) > 1)
    n = int(dtw_ceiling.START_S * dtw_ceiling.CONTOUR_RATE)
    rates = {"false_alarm": float(false_alarm[:n].mean()), "miss": float(miss[:n].mean()),
             "wrong_pitch": float(wrong[:n].sum() / max(((top > 0) & (r > 0))[:n].sum(), 1))}
    fixed = {name: contour.copy() for name in ("false_alarms", "misses", "wrong_pitches", "all")}
    fixed["false_alarms"][:, r == 0] = 0
    fixed["misses"][0, miss] = ref[miss]
    fixed["wrong_pitches"][0, wrong] = ref[wrong]
    fixed["all"][:, r == 0] = 0
    fixed["all"][0, miss | wrong] = ref[miss | wrong]
    return rates, fixed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--checkpoint", default=str(REPO_ROOT / "humsearch" / "models" / "melody.pt"))
    parser.add_argument("--catalog", type=Path, default=REPO_ROOT / "cache" / "eval" / "mirqbsh-catalog")
    parser.add_argument("--data", type=Path, default=dtw_ceiling.DATA_DIR / "mir-qbsh")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if not args.catalog.is_dir():
        parser.error(f"no rendered catalog at {args.catalog} (run `humsearch eval --set mirqbsh` first)")

    songs, queries = dtw_ceiling.model_contours(
        args.checkpoint, args.catalog, dtw_ceiling.contour_cache(args.checkpoint), voiced=VOICED_SALIENCE,
        song_voiced=SONG_VOICED_SALIENCE, pitches=SONG_CANDIDATES)
    midi = {p.stem: dtw_ceiling.midi_contour(p) for p in sorted((args.data / "catalog-midi").glob("*.mid"))}
    answers = {qid.split("_")[2] for qid in queries}
    errors: dict[str, dict[str, float]] = {}
    repaired: dict[str, dict[str, np.ndarray]] = {}
    for stem, contour in songs.items():
        errors[stem], fixed = repairs(contour, reference_in_song_time(contour[0], midi[stem]))
        for name, c in fixed.items():
            repaired.setdefault(f"repaired_{name}", {})[stem] = c
    for name in list(repaired):
        repaired[f"{name}_answers_only"] = {**songs, **{a: repaired[name][a] for a in answers if a in songs}}

    result: dict = {
        "songs": len(songs),
        "catalog_errors": {k: float(np.mean([e[k] for e in errors.values()])) for k in ("false_alarm", "miss", "wrong_pitch")},
        "answer_errors": {a: {k: round(v, 3) for k, v in errors[a].items()} for a in sorted(answers) if a in errors},
        "ranking": {},
    }
    for name, contours in {"model": songs, **repaired}.items():
        ranks = dtw_ceiling.rank_all(queries, contours, start_only=True)
        result["ranking"][name] = {**dtw_ceiling.expected_metrics(ranks),
                                   "ranks": [dtw_ceiling.rank_text(r) for r in ranks]}
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    e = result["catalog_errors"]
    print(f"{len(songs)} songs, first 30 s: false alarms {e['false_alarm']:.3f} of steps, misses {e['miss']:.3f}, "
          f"wrong pitch {e['wrong_pitch']:.3f} of steps voiced on both sides")
    for a, r in result["answer_errors"].items():
        print(f"  answer {a}: false alarms {r['false_alarm']:.2f}  misses {r['miss']:.2f}  wrong {r['wrong_pitch']:.2f}")
    for name, m in result["ranking"].items():
        print(f"  {name:37s} top-1 {m['top1']:.3f}  top-10 {m['top10']:.3f}  MRR {m['mrr']:.3f}  ranks {' '.join(m['ranks'])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
