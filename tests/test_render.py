"""humsearch.synth.render: both engines, and the cap on FluidSynth's output."""

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pretty_midi
import pytest

from humsearch.synth import render


def _midi() -> pretty_midi.PrettyMIDI:
    midi = pretty_midi.PrettyMIDI()
    lead = pretty_midi.Instrument(program=73)
    lead.notes = [pretty_midi.Note(100, 60 + i, 0.5 * i, 0.5 * i + 0.4) for i in range(4)]
    midi.instruments.append(lead)
    return midi


def test_a_runaway_writer_is_stopped_at_the_limit(tmp_path: Path):
    out = tmp_path / "out.raw"
    render.run_with_file_limit(["dd", "if=/dev/zero", f"of={out}", "bs=100000", "count=100"], limit_bytes=100_000)
    assert out.stat().st_size == 100_000


def test_other_failures_still_raise():
    with pytest.raises(subprocess.CalledProcessError):
        render.run_with_file_limit(["sh", "-c", "exit 3"], limit_bytes=100_000)


@pytest.mark.skipif(shutil.which("fluidsynth") is None, reason="needs the fluidsynth command (Debian package)")
def test_both_engines_render_the_song_and_its_tail():
    midi = _midi()
    expected = (midi.get_end_time() + render.TAIL_S) * 16_000
    for engine in ("fluidsynth", "tinysoundfont"):
        audio = render.render_midi(midi, sr=16_000, engine=engine)
        assert len(audio) <= expected and len(audio) >= midi.get_end_time() * 16_000, engine
        assert np.abs(audio).max() == pytest.approx(0.9, abs=1e-3)
