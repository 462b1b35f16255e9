"""Which POP909 hold-out songs the search finds, against how well the front end hears their lead.

    python benchmarks/pop909_by_song.py RESULTS.json [--front-end FRONT_END.json [--checkpoint C]] [--json]

RESULTS.json is the output of `humsearch eval --set pop909 --json` (its per-query ranks);
FRONT_END.json that of `benchmarks/front_end_accuracy.py ... --json` on the same songs, and
--checkpoint names its column (default: the last checkpoint it measured). Prints, per lead
instrument of the catalog's arrangement (evaluation.pop909_arrangement) and per band of
front-end accuracy (the share of the melody's frames heard within a semitone): how many songs,
and which share of their hums come first and within the top 10. Also how the songs split by
the number of their 3 hums found first, against what independent hums at the overall rate
would give: when the split is wider than that, whether a hum is found depends on its song.
Reads results only (and the MIDI files for the leads): takes seconds.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from math import comb
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from front_end_accuracy import lead_name  # noqa: E402
from humsearch.evaluation import DATA_DIR, pop909_arrangement  # noqa: E402

BANDS = (0.0, 0.5, 0.6, 0.7, 0.8, 0.9)  # lower edges of the front-end accuracy bands


def by_song(per_query: list[dict]) -> dict[str, list[int | None]]:
    """Song id ("012") -> the ranks of its hums."""
    ranks: dict[str, list[int | None]] = defaultdict(list)
    for q in per_query:
        ranks[q["answer"].removeprefix("pop909-")].append(q["rank"])
    return dict(ranks)


def summarize(groups: dict[str, list[list[int | None]]]) -> list[dict]:
    """Per group of songs (each a list of hum ranks): songs, hums, share first, share in the top 10."""
    rows = []
    for name, songs in groups.items():
        ranks = [r for song in songs for r in song]
        rows.append({"group": name, "songs": len(songs), "hums": len(ranks),
                     "top1": float(np.mean([r == 1 for r in ranks])),
                     "top10": float(np.mean([r is not None and r <= 10 for r in ranks]))})
    return rows


def found_split(ranks: dict[str, list[int | None]]) -> dict[str, list]:
    """Songs by how many of their hums come first, observed and under independence."""
    per_song = [sum(r == 1 for r in rs) for rs in ranks.values()]
    n = max(len(rs) for rs in ranks.values())
    p = sum(per_song) / sum(len(rs) for rs in ranks.values())
    expected = [len(per_song) * comb(n, k) * p**k * (1 - p) ** (n - k) for k in range(n + 1)]
    return {"observed": [per_song.count(k) for k in range(n + 1)], "independent": [round(e, 1) for e in expected]}


def band_of(accuracy: float) -> str:
    lo = max(b for b in BANDS if accuracy >= b)
    hi = next((b for b in BANDS if b > lo), 1.0)
    return f"{lo:.1f}-{hi:.1f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("results", type=Path)
    parser.add_argument("--front-end", type=Path)
    parser.add_argument("--checkpoint", help="the front-end JSON's column to use (default: its last checkpoint)")
    parser.add_argument("--data", type=Path, default=DATA_DIR)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    ranks = by_song(json.loads(args.results.read_text())["per_query"])
    leads = {sid: lead_name(pop909_arrangement(sid, data=args.data)) for sid in ranks}
    by_lead: dict[str, list] = defaultdict(list)
    for sid, rs in ranks.items():
        by_lead[leads[sid]].append(rs)
    out: dict = {"songs": len(ranks), "found_first_per_song": found_split(ranks),
                 "by_lead": sorted(summarize(by_lead), key=lambda r: (r["top1"], r["group"]))}
    if args.front_end:
        fe = json.loads(args.front_end.read_text())
        column = args.checkpoint or list(fe["checkpoints"])[-1]
        accuracy = {r["song"]: r[column] for r in fe["pop909_holdout"]["songs"]}
        by_band: dict[str, list] = defaultdict(list)
        for sid, rs in ranks.items():
            if sid in accuracy:
                by_band[band_of(accuracy[sid])].append(rs)
        out["front_end"] = {"checkpoint": column, "by_accuracy": sorted(summarize(by_band), key=lambda r: r["group"])}
    if args.json:
        print(json.dumps(out, indent=2))
        return 0
    split = out["found_first_per_song"]
    print(f"{out['songs']} songs; songs with 0..{len(split['observed']) - 1} hums found first: "
          f"{split['observed']} (independent hums would give {split['independent']})")
    tables = [("lead instrument", out["by_lead"])]
    if args.front_end:
        tables.append((f"front-end accuracy ({out['front_end']['checkpoint']})", out["front_end"]["by_accuracy"]))
    for title, rows in tables:
        print(f"\n{title:28s} songs  hums  top-1  top-10")
        for r in rows:
            print(f"{r['group']:28s} {r['songs']:5d} {r['hums']:5d}  {r['top1']:.2f}   {r['top10']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
