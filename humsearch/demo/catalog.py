"""Render the demo catalog: every tune of tunes.txt with a backing band, to WAV files.

Each tune gets its own band, picked by a random generator seeded with its title, so the
catalog sounds the same on every machine. Rendering uses TinySoundFont and the General MIDI
SoundFont inside pretty_midi: no downloads and no system packages.
"""

from __future__ import annotations

import os
import re
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pretty_midi
import soundfile as sf

from humsearch.demo.notation import Tune, load_tunes
from humsearch.synth.accompany import Style, accompany, random_style
from humsearch.synth.render import render_midi

SAMPLE_RATE = 22_050  # Hz: full melody range and harmonics, half the size of CD rate
LEAD_VELOCITY = 100
# Loudness (RMS) of each backing part relative to the melody. SoundFont presets differ in
# loudness by 10 dB and more, so parts are rendered apart and mixed at these ratios: the tune
# stays in front, as a singer is in a real mix, whatever instruments the band got.
PART_LEVELS = {"chords": 0.35, "bass": 0.3, "drums": 0.3}

# Called before each tune with (tunes done, tunes total, title), and once at the end with
# (total, total, ""): the same shape as the indexer's progress callback.
Progress = Callable[[int, int, str], None]


def file_name(tune: Tune) -> str:
    """The tune's title made safe as a file name, with the .wav extension."""
    return re.sub(r'[\\/:*?"<>|]+', "-", tune.title).strip(". ") + ".wav"


def band_for(tune: Tune) -> Style:
    """The tune's backing band: random but fixed by its title, never doubling the lead."""
    rng = np.random.default_rng(zlib.crc32(tune.title.encode()))
    while True:
        style = random_style(rng, drums=tune.drums)
        if style.chord_program != tune.lead_program():
            return style


def arrange(tune: Tune) -> pretty_midi.PrettyMIDI:
    """The tune as MIDI: the melody on its lead instrument plus bass, chords and drums."""
    midi = pretty_midi.PrettyMIDI(initial_tempo=tune.tempo)
    notes = tune.notes()
    lead = pretty_midi.Instrument(program=tune.lead_program(), name="melody")
    # Slightly detached notes: repeated pitches must be heard as separate notes.
    lead.notes = [pretty_midi.Note(LEAD_VELOCITY, p, s, max(s + 0.05, e - 0.03)) for s, e, p in notes]
    rng = np.random.default_rng(zlib.crc32(tune.title.encode()) + 1)
    band = accompany(notes, rng=rng, key=tune.key, meter=tune.meter_grid(), style=band_for(tune))
    midi.instruments = [lead, *band]
    return midi


def render_tune(tune: Tune, *, sr: int = SAMPLE_RATE) -> np.ndarray:
    """Mono float32 audio of the arranged tune, parts mixed at PART_LEVELS, peak 0.9."""
    midi = arrange(tune)
    length = int((midi.get_end_time() + 2.0) * sr)  # room for the longest release tail
    parts = {}
    for inst in midi.instruments:
        alone = pretty_midi.PrettyMIDI(initial_tempo=tune.tempo)
        alone.instruments = [inst]
        audio = render_midi(alone, sr=sr, engine="tinysoundfont")[:length]
        parts[inst.name] = np.pad(audio, (0, length - len(audio)))
    mix = parts.pop("melody")
    melody_rms = _active_rms(mix)
    for name, audio in parts.items():
        rms = _active_rms(audio)
        if rms > 0:
            mix = mix + (PART_LEVELS[name] * melody_rms / rms) * audio
    return (mix * (0.9 / max(float(np.max(np.abs(mix))), 1e-9))).astype(np.float32)


def _active_rms(audio: np.ndarray) -> float:
    """RMS over the samples that are not silence, so long rests do not count as quiet."""
    active = audio[np.abs(audio) > 1e-4]
    return float(np.sqrt(np.mean(active**2))) if active.size else 0.0


def write_wav(path: Path, audio: np.ndarray, *, sr: int, title: str, artist: str) -> None:
    """16-bit WAV with title and artist in its INFO chunk, written to a temporary name and
    renamed, so an interrupted build never leaves a truncated file under the final name."""
    tmp = path.with_name(f".{path.name}.part")
    with sf.SoundFile(tmp, "w", samplerate=sr, channels=1, format="WAV", subtype="PCM_16") as f:
        f.title = title  # strings go in before the audio: libsndfile writes them in the header
        f.artist = artist
        f.write(audio)
    os.replace(tmp, path)


def build_demo_catalog(dest_dir: str | os.PathLike[str], *, progress: Progress | None = None) -> list[Path]:
    """Render every demo tune into dest_dir, skipping files that already exist.

    Args:
        dest_dir: output folder (created if missing).
        progress: optional callback, see Progress.

    Returns:
        Paths of all the catalog's files, in tunes.txt order (existing and new).
    """
    dest = Path(dest_dir)
    dest.mkdir(parents=True, exist_ok=True)
    tunes = load_tunes()
    paths = []
    for done, tune in enumerate(tunes):
        if progress:
            progress(done, len(tunes), tune.title)
        path = dest / file_name(tune)
        if not path.exists():
            write_wav(path, render_tune(tune), sr=SAMPLE_RATE, title=tune.title, artist=tune.composer)
        paths.append(path)
    if progress:
        progress(len(tunes), len(tunes), "")
    return paths
