"""Build the training cache: rendered songs and synthetic hums as log-spectrograms.

    python -m humsearch.training.data --out cache/train --workers 2 --pop909 809 --tunes 800 \
        --corpus 1200

Three sources of melodies, all training material:
  - POP909 training songs (the hold-out list is never touched): a random excerpt of
    EXCERPT_S of the full arrangement (MELODY + BRIDGE + PIANO, `arrange`);
  - procedural folk-like tunes (humsearch.synth.tunes) with a backing band
    (humsearch.synth.accompany);
  - public-domain tunes of music21's corpus (humsearch.training.corpus_tunes, no Essen:
    MIR-QBSH's distractors are Essen tunes) with a backing band;
  - optionally (--faint-pop909, --faint-tunes) POP909 songs and procedural tunes played by
    one of FAINT_LEADS, the leads the front end hears worst, at seeds of their own;
  - optionally (--shared-pop909, --shared-tunes) the same with a lead from SHARED_LEADS, an
    instrument family the band plays too;
  - with --round K, all of the above again at seeds of their own (other POP909 excerpts,
    arrangements, keys and hums), as rK-<name>: more renderings without touching a cache.
Per song, one .npz holds:
  - `spec{v}` (float16, N_SPEC_BINS x frames): variant v of the song, rendered with a random
    SoundFont, random General MIDI programs (voice-like leads included), key, tempo, mix
    levels and sometimes drums; `mel{v}`: the melody's MIDI pitch per frame (0 = none);
    `notes{v}`: the melody as (start_s, end_s, MIDI pitch) in this rendering's time and key;
    `scale{v}`: rendering time / the melody's own time;
  - `hum_spec` (concatenated hums), `hum_f0`, `hum_bounds` (frame ranges), `hum_meta` (start
    of the hummed passage in the melody's own seconds, hum tempo, lead-in): a few synthetic
    hums, for the salience stage (the embedding stage sings its own, see training.hums).
Re-running skips songs already cached, so an interrupted build resumes.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
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
from humsearch.training.corpus_tunes import load_tunes

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
# The leads the front end hears worst on training renderings (struck bars, choir and voices,
# reeds, flutes): fading or breathy notes under a band. --faint-* sources use only these.
FAINT_LEADS = (11, 12, 13, 52, 53, 54, 64, 65, 66, 68, 71, 73, 85)
ACCOMP_PROGRAMS = (0, 1, 2, 4, 5, 6, 7, 11, 16, 19, 24, 25, 26, 27, 29, 32, 33, 35, 46, 48, 49,
                   50, 88, 89, 90, 92, 94)
# Leads of an instrument family the band also plays (pianos, organs, guitars, strings, pads,
# choirs): the front end cannot pick the tune out by its timbre and must follow its line.
# --shared-* sources use only these.
SHARED_LEADS = tuple(p for p in LEAD_PROGRAMS if p // 8 in {a // 8 for a in ACCOMP_PROGRAMS})
VARIANTS = 1
HUMS_PER_SONG = 2
EXCERPT_S = 75.0  # seconds of a POP909 arrangement rendered: room for many hummed passages
MAX_TUNE_S = 90.0  # corpus tunes are cut here
CORPUS_FILE = Path("cache/corpus-tunes.npz")
ROUND_SEEDS = 10_000_000  # --round K shifts every seed by K times this, past all sources' own ranges


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


def arrange(midi: pretty_midi.PrettyMIDI, rng: np.random.Generator,
            leads: tuple[int, ...] = LEAD_PROGRAMS) -> tuple[pretty_midi.PrettyMIDI, int, float]:
    """A randomized arrangement of a POP909 song, its lead drawn from `leads`; returns
    (midi, transpose, time scale)."""
    transpose = int(rng.integers(-5, 6))
    scale = float(rng.uniform(0.85, 1.18))
    out = pretty_midi.PrettyMIDI()
    lead_gain = 10 ** (rng.uniform(-6, 6) / 20)
    for inst in midi.instruments:
        is_melody = inst.name.upper() == "MELODY"
        if inst.name.upper() == "BRIDGE" and rng.random() < 0.3:
            continue
        program = int(rng.choice(leads if is_melody else ACCOMP_PROGRAMS))
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
    while len(bounds) < HUMS_PER_SONG and tries < 50:
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


def melody_id(path: Path) -> str:
    """Which melody a cached file renders: faint-pop909-N and shared-pop909-N are POP909 song N
    again with another lead (the file pop909-N's melody), and so is any of them with a round
    prefix (rK-, `--round`); every other file has its own (the faint, shared and later-round
    procedural tunes come from other seeds than the plain ones)."""
    stem = re.sub(r"^r\d+-(?=(faint-|shared-)?pop909-)", "", path.stem)
    for prefix in ("faint-", "shared-"):
        if stem.startswith(prefix + "pop909-"):
            return stem.removeprefix(prefix)
    return stem


def save_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write atomically; the partial file does not end in .npz, so no reader ever picks it up."""
    tmp = path.with_name(path.name + ".part")
    with open(tmp, "wb") as f:
        np.savez(f, **arrays)
    os.replace(tmp, path)


def _excerpt(midi: pretty_midi.PrettyMIDI, start: float, length: float) -> pretty_midi.PrettyMIDI:
    """The notes that start within [start, start + length), moved to start at 0."""
    out = pretty_midi.PrettyMIDI()
    for inst in midi.instruments:
        new = pretty_midi.Instrument(program=inst.program, is_drum=inst.is_drum, name=inst.name)
        new.notes = [pretty_midi.Note(n.velocity, n.pitch, n.start - start, min(n.end, start + length) - start)
                     for n in inst.notes if start <= n.start < start + length]
        out.instruments.append(new)
    return out


def _with_band(melody: np.ndarray, beat_s: float, rng: np.random.Generator,
               leads: tuple[int, ...]) -> pretty_midi.PrettyMIDI:
    """A lead instrument (from `leads`) playing `melody` over a generated band, a little
    under the tune."""
    midi = pretty_midi.PrettyMIDI()
    lead = pretty_midi.Instrument(program=int(rng.choice(leads)), name="MELODY")
    vel = int(rng.integers(75, 115))
    lead.notes = [pretty_midi.Note(vel, int(p), a, b) for a, b, p in melody]
    band = accompany(melody, rng=rng, tempo_bpm=60.0 / beat_s)
    gain = rng.uniform(0.45, 1.0)  # the band under the tune by a random amount
    for inst in band:
        for n in inst.notes:
            n.velocity = int(np.clip(n.velocity * gain, 1, 127))
    midi.instruments = [lead, *band]
    return midi


def _save_song(out_path: Path, renderings: list[tuple[pretty_midi.PrettyMIDI, np.ndarray, float]],
               mel: np.ndarray, rng: np.random.Generator) -> str:
    """Render each (midi, melody notes in its time and key, time scale); hums are sung from `mel`."""
    arrays: dict[str, np.ndarray] = {}
    for v, (midi, notes, scale) in enumerate(renderings):
        arrays[f"spec{v}"], arrays[f"mel{v}"] = _render_variant(midi, notes, rng)
        arrays[f"notes{v}"] = np.asarray(notes, dtype=np.float32)
        arrays[f"scale{v}"] = np.float32(scale)
    save_npz(out_path, {**arrays, **_hums(mel, rng)})
    return out_path.name


def build_song(out_path: Path, midi_path: Path, seed: int, leads: tuple[int, ...] = LEAD_PROGRAMS) -> str:
    """Cache a POP909 song: VARIANTS random arrangements of an excerpt, and its hums."""
    rng = np.random.default_rng(seed)
    midi = pretty_midi.PrettyMIDI(str(midi_path))
    mel = melody_notes(midi)
    start = float(rng.uniform(max(mel[0, 0] - 2, 0), max(mel[-1, 1] - EXCERPT_S, mel[0, 0])))
    renderings = []
    for _ in range(VARIANTS):
        # Arranged whole (the drums follow the song's own beat grid), rendered as an excerpt.
        arranged, transpose, scale = arrange(midi, rng, leads)
        notes = mel * [scale, scale, 1] + [0, 0, transpose]
        a, length = start * scale, EXCERPT_S * scale
        notes = notes[(notes[:, 0] >= a) & (notes[:, 0] < a + length)] - [a, a, 0]
        renderings.append((_excerpt(arranged, a, length), notes, scale))
    mel = mel[(mel[:, 0] >= start) & (mel[:, 0] < start + EXCERPT_S)] - [start, start, 0]
    return _save_song(out_path, renderings, mel, rng)


def build_tune(out_path: Path, seed: int, beats: np.ndarray | None = None,
               leads: tuple[int, ...] = LEAD_PROGRAMS) -> str:
    """Cache a tune with a backing band: procedural (beats None) or a corpus tune given in
    beats, at a random tempo in a range a lead instrument plays; and its hums."""
    rng = np.random.default_rng(seed)
    if beats is None:
        mel, beat_s = random_tune(rng)
    else:
        beat_s = float(rng.uniform(0.3, 0.75))
        mel = beats * [beat_s, beat_s, 1]
        mel[:, 1] = mel[:, 0] + (mel[:, 1] - mel[:, 0]) * rng.uniform(0.75, 0.98)  # articulation
        mel = mel[mel[:, 0] < MAX_TUNE_S] + [0, 0, int(np.round((67 - np.median(mel[:, 2])) / 12)) * 12]
    renderings = []
    for _ in range(VARIANTS):
        notes = mel + [0, 0, int(rng.integers(-5, 6))]
        renderings.append((_with_band(notes, beat_s, rng, leads), notes, 1.0))
    return _save_song(out_path, renderings, mel, rng)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("cache/train"))
    parser.add_argument("--data", type=Path, default=DATA_DIR, help="folder holding pop909/")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--pop909", type=int, default=809, help="POP909 training songs (excerpts)")
    parser.add_argument("--tunes", type=int, default=0, help="procedural folk-like tunes")
    parser.add_argument("--corpus", type=int, default=0, help="music21 corpus tunes (corpus_tunes output)")
    parser.add_argument("--corpus-file", type=Path, default=CORPUS_FILE)
    parser.add_argument("--faint-pop909", type=int, default=0,
                        help="POP909 training songs rendered again, with a lead from FAINT_LEADS")
    parser.add_argument("--faint-tunes", type=int, default=0, help="procedural tunes with a lead from FAINT_LEADS")
    parser.add_argument("--shared-pop909", type=int, default=0,
                        help="POP909 training songs rendered again, with a lead from SHARED_LEADS")
    parser.add_argument("--shared-tunes", type=int, default=0, help="procedural tunes with a lead from SHARED_LEADS")
    parser.add_argument("--round", type=int, default=0,
                        help="K > 0: every source again at seeds of its own (other excerpts, arrangements, "
                             "keys and hums), written as rK-<name>")
    args = parser.parse_args(argv)
    held = holdout_ids()
    songs = [p for p in sorted((args.data / "pop909").glob("*.mid")) if p.stem not in held][: args.pop909]
    args.out.mkdir(parents=True, exist_ok=True)
    seed = args.round * ROUND_SEEDS  # added to every source's own seeds

    def path(name: str) -> Path:
        return args.out / (f"r{args.round}-{name}" if args.round else name)

    # (output file, builder, its arguments after the output file)
    jobs = [(path(f"pop909-{p.stem}.npz"), build_song, (p, seed + int(p.stem))) for p in songs]
    jobs += [(path(f"tune-{i:05d}.npz"), build_tune, (seed + 1_000_000 + i,)) for i in range(args.tunes)]
    if args.corpus:
        tunes = load_tunes(args.corpus_file)
        picks = np.random.default_rng(0).permutation(len(tunes))[: args.corpus]
        jobs += [(path(f"corpus-{i:05d}.npz"), build_tune, (seed + 2_000_000 + int(i), tunes[i])) for i in picks]
    # Other seeds than the plain sources': other excerpts, keys and hums of the same songs.
    jobs += [(path(f"faint-pop909-{p.stem}.npz"), build_song, (p, seed + 3_000_000 + int(p.stem), FAINT_LEADS))
             for p in songs[: args.faint_pop909]]
    jobs += [(path(f"faint-tune-{i:05d}.npz"), build_tune, (seed + 4_000_000 + i, None, FAINT_LEADS))
             for i in range(args.faint_tunes)]
    # Named to sort after faint-*: the trainer's validation songs are the first files by name.
    jobs += [(path(f"shared-pop909-{p.stem}.npz"), build_song, (p, seed + 5_000_000 + int(p.stem), SHARED_LEADS))
             for p in songs[: args.shared_pop909]]
    jobs += [(path(f"shared-tune-{i:05d}.npz"), build_tune, (seed + 6_000_000 + i, None, SHARED_LEADS))
             for i in range(args.shared_tunes)]
    jobs = [j for j in jobs if not j[0].exists()]
    # Interleaved, so that a build stopped early holds some of every source.
    jobs = [jobs[i] for i in np.random.default_rng(1).permutation(len(jobs))]
    print(f"{len(jobs)} songs to build", flush=True)
    failed = []
    with ProcessPoolExecutor(args.workers, initializer=torch.set_num_threads, initargs=(1,)) as pool:
        futures = [pool.submit(build, out, *rest) for out, build, rest in jobs]
        for i, (job, (out, _, _)) in enumerate(zip(futures, jobs)):
            try:
                print(f"[{i + 1}/{len(jobs)}] {job.result()}", flush=True)
            except Exception as exc:  # one song that cannot be rendered must not stop the others
                failed.append(out.name)
                print(f"[{i + 1}/{len(jobs)}] {out.name} failed: {type(exc).__name__}: {exc}", flush=True)
    if failed:
        sys.exit(f"{len(failed)} of {len(jobs)} songs failed (a re-run tries them again): {', '.join(failed)}")


if __name__ == "__main__":
    main()
