"""How well melody checkpoints' front ends hear the melody inside the evaluation renderings.

    python benchmarks/front_end_accuracy.py CHECKPOINT [CHECKPOINT ...] [--pop909 100] [--json]

For every checkpoint: the fraction of the melody's sounding frames on which the salience peak is
within a semitone of the melody note (raw pitch accuracy), per rendered song, on

- the 19 MIR-QBSH dev answers in the rendered catalog (cache/eval/mirqbsh-catalog, with the
  catalog's lead instrument named), and
- the first `--pop909` held-out POP909 songs in the rendered catalog (cache/eval/pop909-catalog):
  songs no stage of training has seen.

Run `cli.py eval` on both sets first; it renders the catalogs. Give the previous checkpoint as
the first argument (`git show <commit>:humsearch/models/melody.pt > /tmp/old.pt`): it is the
baseline of the same run.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from humsearch.evaluation import CATALOG_LEADS, DATA_DIR  # noqa: E402

CATALOGS = REPO_ROOT / "cache" / "eval"


def accuracy(model, audio: np.ndarray, notes: np.ndarray) -> float:
    from humsearch.melody.features import log_spectrogram
    from humsearch.training.data import frame_pitch
    from humsearch.training.train import item_errors

    spec = log_spectrogram(audio).numpy()
    return 1.0 - float(item_errors(model, [(spec, frame_pitch(notes, spec.shape[1]))])[0])


def mirqbsh_songs(data: Path):
    """(name, lead instrument, audio, notes) of the dev queries' answers."""
    import pretty_midi
    import soundfile as sf

    answers = sorted({p.stem.split("_")[2] for p in (data / "mir-qbsh" / "queries-dev").glob("*.pv")})
    for a in answers:
        pm = pretty_midi.PrettyMIDI(str(data / "mir-qbsh" / "catalog-midi" / f"{a}.mid"))
        notes = np.array([(n.start, n.end, n.pitch) for inst in pm.instruments for n in inst.notes])
        # The catalog's seeded renderer draws the lead program first (evaluation._render_with_band).
        program = int(np.random.default_rng(int(a)).choice(CATALOG_LEADS))
        audio, _ = sf.read(CATALOGS / "mirqbsh-catalog" / f"{a}.flac", dtype="float32")
        yield a, pretty_midi.program_to_instrument_name(program), audio, notes


def pop909_songs(data: Path, limit: int):
    """(name, lead instrument, audio, notes) of held-out POP909 songs, melody in the rendering's
    key and time."""
    import soundfile as sf

    from humsearch.evaluation import pop909_arrangement
    from humsearch.training.data import holdout_ids, melody_notes

    for sid in sorted(holdout_ids())[:limit]:
        arranged = pop909_arrangement(sid, data=data)
        audio, _ = sf.read(CATALOGS / "pop909-catalog" / f"pop909-{sid}.flac", dtype="float32")
        yield sid, lead_name(arranged), audio, melody_notes(arranged)


def lead_name(arranged) -> str:
    """The General MIDI name of an arrangement's MELODY instrument."""
    import pretty_midi

    return pretty_midi.program_to_instrument_name(next(i for i in arranged.instruments if i.name.upper() == "MELODY").program)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("checkpoints", nargs="+", type=Path)
    parser.add_argument("--pop909", type=int, default=100, help="held-out POP909 songs to measure (0: none)")
    parser.add_argument("--data", type=Path, default=DATA_DIR)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    import torch

    from humsearch.melody.model import load_checkpoint

    torch.set_num_threads(1)
    models = {str(c): load_checkpoint(c) for c in args.checkpoints}
    sets = {"mirqbsh_dev_answers": mirqbsh_songs(args.data)}
    if args.pop909:
        sets["pop909_holdout"] = pop909_songs(args.data, args.pop909)
    result: dict = {"checkpoints": {c: version for c, (_, version) in models.items()}}
    for set_name, songs in sets.items():
        rows = [{"song": name, "lead": lead, **{c: round(accuracy(m, audio, notes), 3) for c, (m, _) in models.items()}}
                for name, lead, audio, notes in songs]
        result[set_name] = {"songs": rows, "mean": {c: round(float(np.mean([r[c] for r in rows])), 3) for c in models}}
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    names = [f"{models[c][1]} ({Path(c).name})" for c in models]
    for set_name in sets:
        print(f"{set_name}: melody within a semitone, per song, " + " | ".join(names))
        if set_name == "mirqbsh_dev_answers":
            for r in result[set_name]["songs"]:
                print(f"  {r['song']} {r['lead']:24s} " + "  ".join(f"{r[c]:.2f}" for c in models))
        print(f"  mean over {len(result[set_name]['songs'])} songs: "
              + "  ".join(f"{result[set_name]['mean'][c]:.3f}" for c in models))
    return 0


if __name__ == "__main__":
    sys.exit(main())
