"""Real-voice check of the melody model's pitch front end on vocadito_1 (a real singer).

    python benchmarks/pitch_vocadito.py [--checkpoint PATH] [--json]

Reads ../shared/data/vocadito (33 s of singing with a reference pitch track), runs the
salience front end, takes the strongest pitch per frame, and scores it against the reference
on the frames the reference calls voiced: raw pitch accuracy (within 50 cents and within a
semitone), raw chroma accuracy (octave errors forgiven), and how often the front end hears a
melody where there is one. librosa's pYIN runs on the same audio as the baseline.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from humsearch.audio import load_audio  # noqa: E402
from humsearch.constants import BINS_PER_SEMITONE, FRAMES_PER_SECOND, MELODY_SAMPLE_RATE, PITCH_MIDI_LOW  # noqa: E402
from humsearch.melody.contour import VOICED_SALIENCE  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "vocadito"


def scores(est_midi: np.ndarray, est_voiced: np.ndarray, ref_midi: np.ndarray) -> dict[str, float]:
    voiced = ref_midi > 0
    diff = np.abs(est_midi[voiced] - ref_midi[voiced])
    chroma = np.minimum(diff % 12, 12 - diff % 12)
    return {
        "raw_pitch_accuracy_50c": float(np.mean(diff <= 0.5)),
        "raw_pitch_accuracy_1st": float(np.mean(diff <= 1.0)),
        "raw_chroma_accuracy_50c": float(np.mean(chroma <= 0.5)),
        "voicing_recall": float(np.mean(est_voiced[voiced])),
        "voicing_false_alarm": float(np.mean(est_voiced[~voiced])),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", default=None, help="melody checkpoint [the shipped one]")
    parser.add_argument("--voiced", type=float, default=VOICED_SALIENCE,
                        help="peak salience from which a frame counts as voiced (the search's hum threshold)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    import librosa

    from humsearch.embedders.melody import MelodyEmbedder

    audio = load_audio(DATA / "vocadito_1.wav", sr=MELODY_SAMPLE_RATE)
    ref = np.loadtxt(DATA / "vocadito_1_f0.csv", delimiter=",")
    sal = MelodyEmbedder.load(args.checkpoint).salience(audio).numpy()
    times = np.arange(sal.shape[1]) / FRAMES_PER_SECOND
    ref_hz = np.interp(times, ref[:, 0], ref[:, 1])
    ref_on = np.interp(times, ref[:, 0], (ref[:, 1] > 0).astype(float)) > 0.5
    ref_midi = np.where(ref_on & (ref_hz > 0), librosa.hz_to_midi(np.maximum(ref_hz, 1e-3)), 0.0)

    ours = scores(PITCH_MIDI_LOW + sal.argmax(axis=0) / BINS_PER_SEMITONE, sal.max(axis=0) >= args.voiced, ref_midi)
    f0, voiced, _ = librosa.pyin(audio, fmin=65, fmax=1000, sr=MELODY_SAMPLE_RATE, frame_length=2048,
                                 hop_length=int(MELODY_SAMPLE_RATE / FRAMES_PER_SECOND))
    n = min(len(f0), len(ref_midi))
    pyin = scores(np.nan_to_num(librosa.hz_to_midi(np.nan_to_num(f0[:n], nan=1.0))), voiced[:n], ref_midi[:n])
    result = {"frames": int(len(ref_midi)), "melody_front_end": ours, "librosa_pyin": pyin}
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"vocadito_1: {result['frames']} frames at {FRAMES_PER_SECOND:g} fps")
    print(f"  {'':24s} {'melody front end':>17s} {'librosa pYIN':>13s}")
    for key in ours:
        print(f"  {key:24s} {ours[key]:17.3f} {pyin[key]:13.3f}")


if __name__ == "__main__":
    main()
