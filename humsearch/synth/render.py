"""MIDI to audio with a real SoundFont synthesizer.

Two engines: TinySoundFont (a PyPI wheel, in-process, .sf2 only, the faster one) and
FluidSynth's command line (needs the Debian package; the only one that reads the compressed
.sf3 SoundFonts). The default SoundFont is the General MIDI bank that pretty_midi ships, so
the app renders its demo catalog on any machine with nothing downloaded.
"""

from __future__ import annotations

import signal
import subprocess
import tempfile
from functools import lru_cache
from pathlib import Path

import numpy as np
import pretty_midi

DEFAULT_SOUNDFONT = Path(pretty_midi.__file__).parent / "TimGM6mb.sf2"
TAIL_S = 1.5  # let releases and reverb ring out after the last note
FLUIDSYNTH_FILE_SLACK = 128 * 2**20  # bytes FluidSynth may write beyond the song's length


def render_midi(
    midi: pretty_midi.PrettyMIDI,
    *,
    sr: int,
    soundfont: str | Path = DEFAULT_SOUNDFONT,
    engine: str = "auto",
) -> np.ndarray:
    """Render a MIDI object to mono float32 audio, peak-normalized to 0.9.

    Args:
        midi: the music; instruments' programs and is_drum are honoured.
        sr: output sample rate (Hz).
        soundfont: .sf2 (either engine) or .sf3 (FluidSynth only).
        engine: "fluidsynth", "tinysoundfont" or "auto" (TinySoundFont for .sf2, which it
            renders several times faster; FluidSynth for .sf3, which only it reads).

    Returns:
        1-D float32 array.
    """
    if engine == "auto":
        engine = "fluidsynth" if Path(soundfont).suffix.lower() == ".sf3" else "tinysoundfont"
    if engine == "fluidsynth":
        audio = _render_fluidsynth(midi, sr, Path(soundfont))
    elif engine == "tinysoundfont":
        audio = _render_tinysoundfont(midi, sr, Path(soundfont))
    else:
        raise ValueError(f"unknown engine {engine!r}")
    peak = float(np.max(np.abs(audio))) if audio.size else 0.0
    return (audio * (0.9 / peak) if peak > 0 else audio).astype(np.float32)


def _render_fluidsynth(midi: pretty_midi.PrettyMIDI, sr: int, soundfont: Path) -> np.ndarray:
    frames = int((midi.get_end_time() + TAIL_S) * sr)  # as much as TinySoundFont renders
    with tempfile.TemporaryDirectory() as tmp:
        mid, raw = Path(tmp) / "in.mid", Path(tmp) / "out.raw"
        midi.write(str(mid))
        # FluidSynth has been seen to run away on a 75 s excerpt (66 GB of raw output, a full
        # disk): the files it writes are capped, and a render cut there is kept. The cap leaves
        # room for the 64 MiB shared-memory file PulseAudio's client library sets up in it even
        # when it renders to a file.
        run_with_file_limit(
            ["fluidsynth", "-ni", "-q", "-g", "0.4", "-r", str(sr), "-O", "float", "-T", "raw",
             "-F", str(raw), str(soundfont), str(mid)],
            limit_bytes=frames * 2 * 4 + FLUIDSYNTH_FILE_SLACK,
        )
        stereo = np.fromfile(raw, dtype=np.float32, count=frames * 2)
    return stereo[: len(stereo) // 2 * 2].reshape(-1, 2).mean(axis=1)


def run_with_file_limit(cmd: list[str], *, limit_bytes: int) -> None:
    """Run a command that writes a file, stopping it once any file it writes reaches
    limit_bytes (RLIMIT_FSIZE); being stopped there is not an error, any other failure is.

    Raises:
        subprocess.CalledProcessError: the command failed otherwise.
    """
    def limit() -> None:
        import resource

        resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes, limit_bytes))

    done = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=limit)
    if done.returncode not in (0, -signal.SIGXFSZ):
        raise subprocess.CalledProcessError(done.returncode, cmd)


@lru_cache(maxsize=2)
def _synth(soundfont: Path, sr: int):  # noqa: ANN202 (tinysoundfont is imported lazily)
    """A loaded synthesizer, kept: parsing a large SoundFont takes longer than a song."""
    import tinysoundfont

    synth = tinysoundfont.Synth(samplerate=sr)
    return synth, synth.sfload(str(soundfont))


def _render_tinysoundfont(midi: pretty_midi.PrettyMIDI, sr: int, soundfont: Path) -> np.ndarray:
    synth, sfid = _synth(soundfont, sr)
    synth.sounds_off()
    events: list[tuple[float, int, int, int, int]] = []  # (time, order, channel, key, velocity)
    melodic = iter(c for c in range(16) if c != 9)
    for inst in midi.instruments:
        chan = 9 if inst.is_drum else next(melodic, 15)
        synth.program_select(chan, sfid, 128 if inst.is_drum else 0, 0 if inst.is_drum else inst.program,
                             is_drums=inst.is_drum)
        for n in inst.notes:
            # note-offs sort before note-ons at the same instant so repeated keys retrigger
            events.append((n.start, 1, chan, n.pitch, n.velocity))
            events.append((n.end, 0, chan, n.pitch, 0))
    events.sort()
    total = int((midi.get_end_time() + TAIL_S) * sr)
    out = np.zeros((total, 2), dtype=np.float32)
    pos = 0
    for time, _, chan, key, vel in events:
        target = min(int(time * sr), total)
        if target > pos:
            out[pos:target] = np.frombuffer(synth.generate(target - pos), dtype=np.float32).reshape(-1, 2)
            pos = target
        if vel:
            synth.noteon(chan, key, vel)
        else:
            synth.noteoff(chan, key)
    if total > pos:
        out[pos:] = np.frombuffer(synth.generate(total - pos), dtype=np.float32).reshape(-1, 2)
    return out.mean(axis=1)
