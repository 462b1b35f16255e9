"""Build the training cache: rendered songs and synthetic hums as log-spectrograms.

    python -m humsearch.training.data --out cache/train [--workers 2] [--limit N]

    python -m humsearch.training.data --out cache/train --tunes 1000   # plus procedural tunes

Per POP909 training song (the hold-out list is never touched), and per procedural folk-like
tune (humsearch.synth.tunes, with a backing band from humsearch.synth.accompany), one .npz holds:
  - `spec{v}` (float16, N_SPEC_BINS x frames): variant v of the full arrangement, rendered
    with a random SoundFont, random General MIDI programs (voice-like leads included),
    key, tempo, mix levels and sometimes drums; `mel{v}`: the melody's MIDI pitch per frame
    (0 = none); `scale{v}`: render time / original MIDI time.
  - `hum_spec` (concatenated hums), `hum_f0`, `hum_bounds` (frame ranges), `hum_meta`
    (start of the hummed passage in original MIDI seconds, hum tempo).
Re-running skips songs already cached, so an interrupted build resumes.
"""

from __future__ import annotations

import argparse
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pretty_midi
import torch

from humsearch.constants import FRAMES_PER_SECOND, MELODY_SAMPLE_RATE
from humsearch.melody.features import log_spectrogram
from humsearch.synth.hum import synthesize_hum
from humsearch.synth.accompany import accompany
from humsearch.synth.render import render_midi
from humsearch.synth.tunes import random_tune

DATA_DIR = Path(__file__).resolve().parents[2].parent / "shared" / "data"
HOLDOUT_FILE = Path(__file__).with_name("pop909_holdout.txt")
SOUNDFONTS = (  # (path, engine, probability)
    ("/usr/share/sounds/sf2/FluidR3_GM.sf2", "tinysoundfont", 0.55),
    ("/usr/share/sounds/sf2/TimGM6mb.sf2", "tinysoundfont", 0.35),
    ("/usr/share/sounds/sf3/MuseScore_General_Lite.sf3", "fluidsynth", 0.1)  # 10x slower to render,
)
# General MIDI programs (0-based). Leads include voices, winds, strings, synth leads.
LEAD_PROGRAMS = (0, 4, 11, 16, 19, 22, 24, 25, 26, 40, 41, 48, 52, 53, 54, 56, 57, 60, 64, 65,
                 66, 68, 71, 73, 74, 75, 78, 79, 80, 81, 82, 85, 91)
ACCOMP_PROGRAMS = (0, 1, 2, 4, 5, 6, 7, 11, 16, 19, 24, 25, 26, 27, 29, 32, 33, 35, 46, 48, 49,
                   50, 88, 89, 90, 92, 94)
VARIANTS = 2
HUMS_PER_SONG = 8


def holdout_ids() -> set[str]:
    return {ln.strip() for ln in HOLDOUT_FILE.read_text().splitlines() if ln.strip() and not ln.startswith("#")}


def melody_notes(midi: pretty_midi.PrettyMIDI) -> np.ndarray:
    """(n, 3) start, end, pitch of the MELODY track, made monophonic (highest wins)."""
    inst = next(i for i in midi.instruments if i.name.upper() == "MELODY")
    notes = np.array(sorted((n.start, n.end, n.pitch) for n in inst.notes))
    notes[:-1, 1] = np.minimum(notes[:-1, 1], notes[1:, 0])
    return notes[notes[:, 1] > notes[:, 0]]


def frame_pitch(notes: np.ndarray, n_frames: int) -> np.ndarray:
    """Melody MIDI pitch at each model frame (0 where no note sounds)."""
    out = np.zeros(n_frames, dtype=np.float32)
    for on, off, p in notes:
        out[int(round(on * FRAMES_PER_SECOND)) : int(round(off * FRAMES_PER_SECOND))] = p
    return out


def drum_track(midi: pretty_midi.PrettyMIDI, rng: np.random.Generator) -> pretty_midi.Instrument:
    """A plain rock/pop beat on the song's beat grid: kick, snare on 2 and 4, hi-hat eighths."""
    drums = pretty_midi.Instrument(program=0, is_drum=True, name="DRUMS")
    beats = midi.get_beats()
    vel = int(rng.integers(50, 100))
    for i, b in enumerate(beats[:-1]):
        half = (beats[i + 1] - b) / 2
        drums.notes.append(pretty_midi.Note(vel, 36 if i % 2 == 0 else 38, b, b + 0.1))
        for h in (b, b + half):
            drums.notes.append(pretty_midi.Note(vel - 20, 42, h, h + 0.05))
    return drums


def arrange(midi: pretty_midi.PrettyMIDI, rng: np.random.Generator) -> tuple[pretty_midi.PrettyMIDI, int, float]:
    """A randomized arrangement of a POP909 song; returns (midi, transpose, time scale)."""
    transpose = int(rng.integers(-5, 6))
    scale = float(rng.uniform(0.85, 1.18))
    out = pretty_midi.PrettyMIDI()
    lead_gain = 10 ** (rng.uniform(-6, 6) / 20)
    for inst in midi.instruments:
        is_melody = inst.name.upper() == "MELODY"
        if inst.name.upper() == "BRIDGE" and rng.random() < 0.3:
            continue
        program = int(rng.choice(LEAD_PROGRAMS if is_melody else ACCOMP_PROGRAMS))
        new = pretty_midi.Instrument(program=program, name=inst.name)
        gain = lead_gain if is_melody else 1.0
        for n in inst.notes:
            new.notes.append(pretty_midi.Note(int(np.clip(n.velocity * gain, 20, 127)), n.pitch + transpose,
                                              n.start * scale, n.end * scale))
        out.instruments.append(new)
    if rng.random() < 0.5:
        drums = drum_track(midi, rng)
        for n in drums.notes:
            n.start, n.end = n.start * scale, n.end * scale
        out.instruments.append(drums)
    return out, transpose, scale


def _pick_soundfont(rng: np.random.Generator) -> tuple[str, str]:
    probs = np.array([p for _, _, p in SOUNDFONTS])
    path, engine, _ = SOUNDFONTS[rng.choice(len(SOUNDFONTS), p=probs / probs.sum())]
    return path, engine


def _render_variant(midi: pretty_midi.PrettyMIDI, melody: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(log-spectrogram float16, melody pitch per frame) of one rendering."""
    sf2, engine = _pick_soundfont(rng)
    spec = log_spectrogram(render_midi(midi, sr=MELODY_SAMPLE_RATE, soundfont=sf2, engine=engine)).numpy()
    return spec.astype(np.float16), frame_pitch(melody, spec.shape[1])


def _hums(mel: np.ndarray, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """HUMS_PER_SONG hums of 8-16 s passages starting anywhere in the melody."""
    specs, f0s, bounds, meta = [], [], [], []
    end = mel[-1, 1]
    tries = 0
    while len(meta) < HUMS_PER_SONG and tries < 50:
        tries += 1
        length = rng.uniform(8, 16)
        start = rng.uniform(max(mel[0, 0] - 1, 0), max(end - length, 1))
        sel = mel[(mel[:, 0] >= start) & (mel[:, 0] < start + length)]
        if len(sel) < 5:
            continue
        hum = synthesize_hum(sel - [start, start, 0], sr=MELODY_SAMPLE_RATE, rng=rng)
        spec = log_spectrogram(hum.audio).numpy()
        n = min(spec.shape[1], len(hum.f0_midi))
        at = sum(s.shape[1] for s in specs)
        specs.append(spec[:, :n].astype(np.float16))
        f0s.append(hum.f0_midi[:n])
        bounds.append((at, at + n))
        # Where the hum's first note sits in song time: the hum adds a lead-in before it.
        meta.append((sel[0, 0], hum.tempo, float(np.argmax(hum.f0_midi[:n] > 0)) / FRAMES_PER_SECOND))
    return {"hum_spec": np.concatenate(specs, axis=1), "hum_f0": np.concatenate(f0s).astype(np.float32),
            "hum_bounds": np.array(bounds, dtype=np.int64), "hum_meta": np.array(meta, dtype=np.float32)}


def save_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write atomically; the partial file does not end in .npz, so no reader ever picks it up."""
    tmp = path.with_name(path.name + ".part")
    with open(tmp, "wb") as f:
        np.savez(f, **arrays)
    os.replace(tmp, path)


def build_song(midi_path: Path, out_path: Path, seed: int) -> str:
    """Cache a POP909 song: VARIANTS random arrangements and its hums."""
    rng = np.random.default_rng(seed)
    midi = pretty_midi.PrettyMIDI(str(midi_path))
    mel = melody_notes(midi)
    arrays: dict[str, np.ndarray] = {}
    for v in range(VARIANTS):
        arranged, transpose, scale = arrange(midi, rng)
        arrays[f"spec{v}"], arrays[f"mel{v}"] = _render_variant(arranged, mel * [scale, scale, 1] + [0, 0, transpose], rng)
        arrays[f"scale{v}"] = np.float32(scale)
    save_npz(out_path, {**arrays, **_hums(mel, rng)})
    return out_path.name


def build_tune(out_path: Path, seed: int) -> str:
    """Cache a procedural folk-like tune: VARIANTS renderings with a backing band, and its hums."""
    rng = np.random.default_rng(seed)
    mel, beat_s = random_tune(rng)
    arrays: dict[str, np.ndarray] = {}
    for v in range(VARIANTS):
        transpose = int(rng.integers(-5, 6))
        notes = mel + [0, 0, transpose]
        midi = pretty_midi.PrettyMIDI()
        lead = pretty_midi.Instrument(program=int(rng.choice(LEAD_PROGRAMS)), name="MELODY")
        vel = int(rng.integers(80, 115))
        lead.notes = [pretty_midi.Note(vel, int(p), a, b) for a, b, p in notes]
        band = accompany(notes, rng=rng, tempo_bpm=60.0 / beat_s)
        for inst in band:  # the band a little under the tune, by a random amount
            gain = rng.uniform(0.5, 1.0)
            for n in inst.notes:
                n.velocity = int(np.clip(n.velocity * gain, 1, 127))
        midi.instruments = [lead, *band]
        arrays[f"spec{v}"], arrays[f"mel{v}"] = _render_variant(midi, notes, rng)
        arrays[f"scale{v}"] = np.float32(1.0)
    save_npz(out_path, {**arrays, **_hums(mel, rng)})
    return out_path.name


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("cache/train"))
    parser.add_argument("--pop909", type=Path, default=DATA_DIR / "pop909")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--limit", type=int, default=None, help="only the first N training songs")
    parser.add_argument("--tunes", type=int, default=0, help="also build N procedural folk-like tunes")
    args = parser.parse_args()
    held = holdout_ids()
    songs = [p for p in sorted(args.pop909.glob("*.mid")) if p.stem not in held][: args.limit]
    args.out.mkdir(parents=True, exist_ok=True)
    todo = [(p, args.out / f"pop909-{p.stem}.npz", int(p.stem)) for p in songs
            if not (args.out / f"pop909-{p.stem}.npz").exists()]
    tunes = [(args.out / f"tune-{i:05d}.npz", 1_000_000 + i) for i in range(args.tunes)]
    tunes = [t for t in tunes if not t[0].exists()]
    print(f"{len(songs)} training songs, {len(todo)} to build; {len(tunes)} tunes to build", flush=True)
    with ProcessPoolExecutor(args.workers, initializer=torch.set_num_threads, initargs=(1,)) as pool:
        jobs = [pool.submit(build_song, *t) for t in todo] + [pool.submit(build_tune, *t) for t in tunes]
        for i, job in enumerate(jobs):
            print(f"[{i + 1}/{len(jobs)}] {job.result()}", flush=True)


if __name__ == "__main__":
    main()
