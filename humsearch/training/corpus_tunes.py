"""Public-domain melodies from music21's corpus, for training (never MIR-QBSH, never Essen).

    python -m humsearch.training.corpus_tunes --out cache/corpus-tunes.npz [--workers 2]

Fiddle tunes and airs (Ryan's Mammoth Collection, O'Neill's 1850, Aird's Airs, the Nottingham
folk-tune set, two folk miscellanies) and the soprano lines of Bach's chorales (hymn tunes).
MIR-QBSH's distractors are Essen folk songs, so music21's Essen collection is left out.
Each tune is stored as (start, end, MIDI pitch) in quarter-note beats, made monophonic
(the highest note wins); a tempo is chosen when the tune is used.
"""

from __future__ import annotations

import argparse
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

# Never "essenFolksong": MIR-QBSH's distractors come from the Essen collection.
COLLECTIONS = ("ryansMammoth", "oneills1850", "airdsAirs", "nottingham-dataset", "miscFolk", "bach")
MIN_NOTES = 16


def corpus_paths() -> list[Path]:
    from music21 import corpus

    paths = [Path(p) for p in corpus.getCorePaths()]
    return sorted(p for p in paths if any(f"/{c}/" in str(p) for c in COLLECTIONS))


def monophonic(notes: np.ndarray) -> np.ndarray:
    """(n, 3) start, end, pitch -> the top line: one note per onset (the highest), each cut at
    the next onset."""
    if len(notes) == 0:
        return notes.reshape(0, 3)
    notes = notes[np.lexsort((-notes[:, 2], notes[:, 0]))]
    first = np.concatenate([[True], np.diff(notes[:, 0]) > 1e-6])
    notes = notes[first].copy()
    notes[:-1, 1] = np.minimum(notes[:-1, 1], notes[1:, 0])
    return notes[notes[:, 1] > notes[:, 0]]


def _melody_part(score):  # noqa: ANN001, ANN202 (music21 streams)
    """A chorale's soprano (named so, else the part with the highest mean pitch); a tune's only part."""
    parts = list(score.parts)
    if not parts:
        return score
    named = [p for p in parts if "soprano" in f"{p.partName} {p.id}".lower()]
    if named:
        return named[0]
    return max(parts, key=lambda p: np.mean([n.pitches[-1].midi for n in p.flatten().notes] or [0]))


def _score_tunes(score) -> list[np.ndarray]:  # noqa: ANN001 (a music21 stream)
    """The melodies of one parsed file: each score of an opus; a chorale's soprano part."""
    from music21 import stream

    scores = list(score.scores) if isinstance(score, stream.Opus) else [score]
    out = []
    for s in scores:
        part = _melody_part(s)
        rows = []
        for n in part.flatten().notes:
            pitches = [p.midi for p in n.pitches]
            if pitches and n.quarterLength > 0:
                start = float(n.getOffsetInHierarchy(part))
                rows.append((start, start + float(n.quarterLength), max(pitches)))
        mel = monophonic(np.array(rows, dtype=np.float64).reshape(-1, 3))
        if len(mel) >= MIN_NOTES:
            out.append(mel - [mel[0, 0], mel[0, 0], 0])
    return out


def extract(path: Path) -> tuple[str, list[np.ndarray]]:
    from music21 import converter

    try:
        return str(path), _score_tunes(converter.parse(str(path)))
    except Exception as exc:  # a file music21 cannot read is skipped, the rest goes on
        print(f"skipped {path.name}: {exc}", flush=True)
        return str(path), []


def save_tunes(path: Path, tunes: list[np.ndarray], sources: list[str]) -> None:
    lengths = np.array([len(t) for t in tunes], dtype=np.int64)
    tmp = path.with_name(path.name + ".part")
    with open(tmp, "wb") as f:
        np.savez(f, notes=np.concatenate(tunes).astype(np.float32), lengths=lengths, sources=np.array(sources))
    tmp.replace(path)


def load_tunes(path: Path) -> list[np.ndarray]:
    """The tunes save_tunes wrote, each (n, 3) start, end, pitch in beats."""
    with np.load(path) as z:
        return np.split(z["notes"].astype(np.float64), np.cumsum(z["lengths"])[:-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("cache/corpus-tunes.npz"))
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    paths = corpus_paths()
    print(f"{len(paths)} corpus files", flush=True)
    tunes, sources = [], []
    with ProcessPoolExecutor(args.workers) as pool:
        for i, (src, found) in enumerate(pool.map(extract, paths, chunksize=8)):
            tunes += found
            sources += [Path(src).parent.name] * len(found)
            if (i + 1) % 200 == 0:
                print(f"{i + 1}/{len(paths)} files, {len(tunes)} tunes", flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    save_tunes(args.out, tunes, sources)
    print(f"wrote {len(tunes)} tunes to {args.out}")


if __name__ == "__main__":
    main()
