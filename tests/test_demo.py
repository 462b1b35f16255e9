"""The demo catalog: the hand-written tunes, their notation, and the rendered files."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from humsearch.demo import catalog
from humsearch.demo.notation import load_tunes, parse_event, parse_tunes
from humsearch.synth.accompany import choose_chords, estimate_key
from humsearch.synth.accompany import _harmonic_slots  # the slots the band really uses

TUNES = load_tunes()

SHORT_TEMPLATE = """
title: Test Tune
composer: nobody
key: C major
meter: 3/4
tempo: 240
lead: Flute
form: A A+2
A: {bars}
"""
SHORT = SHORT_TEMPLATE.format(bars="| G4q | C5h E5q | G5h. | E5q D5e C5e D5q | C5h |")


def test_catalog_size_and_titles():
    assert 40 <= len(TUNES) <= 50
    titles = [t.title for t in TUNES]
    assert len(set(titles)) == len(titles)
    assert len({catalog.file_name(t).lower() for t in TUNES}) == len(TUNES)  # case-insensitive file systems


@pytest.mark.parametrize("tune", TUNES, ids=lambda t: t.title)
def test_tune_is_a_playable_melody(tune):
    notes = tune.notes()
    assert 30 <= tune.duration_s() <= 75, "long enough to cut a 10-30 s excerpt from, short enough to index fast"
    assert len(notes) >= 20
    pitches = [p for *_, p in notes]
    assert 55 <= min(pitches) and max(pitches) <= 88, "G3..E6: a lead instrument's range, and hummable an octave down"
    assert max(pitches) - min(pitches) <= 26
    # Monophonic: each note ends before the next starts.
    assert all(a[1] <= b[0] + 1e-9 for a, b in zip(notes, notes[1:]))
    # Tunes move by small steps mostly. A note typed in the wrong octave shows up as a jump
    # of an octave or more and straight back.
    steps = np.diff(pitches)
    assert np.mean(np.abs(steps) <= 8) >= 0.8
    assert np.sum(np.abs(steps) > 12) <= 2
    assert not any(abs(a) >= 12 and abs(b) >= 12 and a * b < 0 for a, b in zip(steps, steps[1:]))
    assert 0 <= tune.lead_program() < 128


def test_written_keys_agree_with_the_notes():
    """The key written in tunes.txt and the key the notes imply agree for nearly every tune
    (a failure points at wrong notes or a wrong key line)."""
    agree = [estimate_key(t.notes()) == t.key for t in TUNES]
    assert np.mean(agree) >= 0.85


def test_band_harmony_fits_the_melody():
    """On most downbeats the melody note belongs to the chord the band plays."""
    fits = []
    for tune in TUNES:
        notes = np.array(tune.notes())
        meter = tune.meter_grid()
        slots = _harmonic_slots(notes, meter)
        for (start, _, _), chord in zip(slots, choose_chords(notes, slots, tune.key, meter)):
            sounding = notes[(notes[:, 0] <= start + 1e-6) & (notes[:, 1] > start + 1e-6)]
            if len(sounding):
                fits.append(int(sounding[0, 2]) % 12 in chord.pitch_classes)
    assert np.mean(fits) >= 0.85


def test_leads_are_all_different():
    assert len({t.lead for t in TUNES}) == len(TUNES)


def test_parse_events():
    e = parse_event("F#4q.")
    assert (e.pitch, e.quarters, e.tie) == (66, 1.5, False)
    assert parse_event("Bb3h~").pitch == 58 and parse_event("Bb3h~").tie
    assert parse_event("rs").pitch is None and parse_event("rs").quarters == 0.25
    for bad in ("H4q", "C4", "C4x", "c4q"):
        with pytest.raises(ValueError):
            parse_event(bad)


def test_short_tune_form_pickup_and_transposition():
    (tune,) = parse_tunes(SHORT)
    assert tune.pickup_quarters() == 1.0
    assert tune.meter_grid().downbeat_s == pytest.approx(0.25)  # one quarter at 240 bpm
    notes = tune.notes()
    assert [p for *_, p in notes[:3]] == [67, 72, 76]
    assert [p for *_, p in notes[-2:]] == [74 + 2, 74]  # second time round a tone higher: D5 then the last C5+2
    assert tune.duration_s() == pytest.approx(2 * (1 + 9 + 2) * 0.25)


@pytest.mark.parametrize(
    ("bars", "message"),
    [
        ("| G4q | C5h E5q G5q | G5h. | C5h |", "bar 2 holds 4 quarters, the meter allows 3"),
        ("| G4q | C5h E5q | G5h | E5q D5e C5e D5q | C5h |", "bar 3 holds 2 quarters, expected 3"),
        ("| G4q | C5h~ D5q | C5h |", "tie"),
        ("| G4q | C5h E5x | C5h |", "bad note 'E5x'"),
    ],
)
def test_notation_errors_name_the_tune_and_the_problem(bars, message):
    with pytest.raises(ValueError, match=message) as info:
        parse_tunes(SHORT_TEMPLATE.format(bars=bars))
    assert "Test Tune" in str(info.value)


def test_build_demo_catalog_renders_once(tmp_path, monkeypatch):
    monkeypatch.setattr(catalog, "load_tunes", lambda: parse_tunes(SHORT + SHORT.replace("Test Tune", "Other: Tune")))
    calls = []
    paths = catalog.build_demo_catalog(tmp_path / "demo", progress=lambda *a: calls.append(a))
    assert [p.name for p in paths] == ["Test Tune.wav", "Other- Tune.wav"]
    assert calls == [(0, 2, "Test Tune"), (1, 2, "Other: Tune"), (2, 2, "")]
    info = sf.info(paths[0])
    assert (info.samplerate, info.channels, info.subtype) == (catalog.SAMPLE_RATE, 1, "PCM_16")
    # The melody ends at 6 s, the band completes its bar (6.25 s), then 2 s of release tail.
    assert info.duration == pytest.approx(8.25, abs=0.05)
    with sf.SoundFile(paths[0]) as f:
        assert f.title == "Test Tune"
    audio, _ = sf.read(paths[0])
    assert 0.5 < np.max(np.abs(audio)) <= 0.91
    assert not list((tmp_path / "demo").glob(".*")), "no temporary files left behind"

    # Idempotent: existing files are kept and nothing is rendered again.
    monkeypatch.setattr(catalog, "render_tune", lambda *a, **k: pytest.fail("re-rendered an existing file"))
    mtime = paths[0].stat().st_mtime_ns
    assert catalog.build_demo_catalog(tmp_path / "demo") == paths
    assert paths[0].stat().st_mtime_ns == mtime


def melody_salience(tune, *, sr: int = 16_000) -> float:
    """Share of the frames inside melody notes where the loudest pitch class of the mix is
    the melody's (pitch classes, because some leads are louder at a harmonic than at the
    fundamental)."""
    audio = catalog.render_tune(tune, sr=sr)
    size, hop = 2048, 800
    frames = np.lib.stride_tricks.sliding_window_view(audio, size)[::hop] * np.hanning(size)
    spec = np.abs(np.fft.rfft(frames, axis=1))
    freqs = np.fft.rfftfreq(size, 1 / sr)
    pitch_class = np.round(69 + 12 * np.log2(np.maximum(freqs, 1) / 440)).astype(int) % 12
    energy = np.stack([spec[:, (pitch_class == pc) & (freqs > 60)].sum(axis=1) for pc in range(12)], axis=1)
    times = (np.arange(len(frames)) * hop + size / 2) / sr
    hits = []
    for start, end, pitch in tune.notes():
        inside = (times > start + 0.06) & (times < end - 0.03)
        hits += list(energy[inside].argmax(axis=1) == pitch % 12)
    return float(np.mean(hits))


def test_melody_is_in_front_of_the_band():
    """A listener (and the melody model) hears the tune over the chords: in most frames the
    loudest pitch class is the melody note. (With the band as loud as the lead this drops
    to about 0.75, with the band three times louder to about 0.4.)"""
    assert np.mean([melody_salience(t) for t in TUNES[::4]]) >= 0.85


@pytest.mark.slow
def test_every_lead_instrument_sounds_at_its_written_pitch():
    """Some presets of the SoundFont are tuned wrong (its Whistle plays a sixth low): every lead
    of the catalog must sound at the pitch written."""
    import librosa
    import pretty_midi

    from humsearch.synth.render import render_midi

    for program in sorted({t.lead_program() for t in TUNES}):
        midi = pretty_midi.PrettyMIDI()
        inst = pretty_midi.Instrument(program)
        inst.notes = [pretty_midi.Note(100, 69, 0.0, 1.0)]
        midi.instruments = [inst]
        audio = render_midi(midi, sr=16_000, engine="tinysoundfont")[:16_000]
        f0, _, _ = librosa.pyin(audio, fmin=100, fmax=1600, sr=16_000, frame_length=1024)
        name = pretty_midi.program_to_instrument_name(program)
        assert np.nanmedian(librosa.hz_to_midi(f0[3:30])) == pytest.approx(69, abs=0.5), name
