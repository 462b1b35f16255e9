"""The backing-band generator: key and beat estimation, chord choice, and the parts it returns."""

from __future__ import annotations

import numpy as np
import pretty_midi
import pytest

from humsearch.synth.accompany import (
    BASS_PATTERNS,
    CHORD_PATTERNS,
    Key,
    Meter,
    Style,
    accompany,
    choose_chords,
    estimate_beat_s,
    estimate_key,
)

MAJOR_SCALE = (0, 2, 4, 5, 7, 9, 11)
TWINKLE = (60, 60, 67, 67, 69, 69, 67, 67, 65, 65, 64, 64, 62, 62, 60, 60)


def tune(pitches, *, note_s: float = 0.5, start: float = 0.0) -> list[tuple[float, float, int]]:
    return [(start + i * note_s, start + (i + 1) * note_s - 0.05, p) for i, p in enumerate(pitches)]


def diatonic_melody(rng: np.random.Generator, tonic: int, *, minor: bool = False, n: int = 48) -> list[int]:
    """A random walk on the scale that starts and ends on the tonic, with the tonic triad
    on strong notes, like a real tune."""
    scale = (0, 2, 3, 5, 7, 8, 11) if minor else MAJOR_SCALE
    triad = (0, 2, 4)  # scale degrees
    degree, out = 0, []
    for i in range(n):
        if i % 4 == 0:
            degree = int(rng.choice(triad)) + 7 * int(rng.integers(0, 2))
        else:
            degree = int(np.clip(degree + rng.choice([-2, -1, 1, 2]), 0, 13))
        out.append(60 + tonic + 12 * (degree // 7) + scale[degree % 7] - 12 * (tonic > 5))
    return [60 + tonic - 12 * (tonic > 5)] + out + [60 + tonic - 12 * (tonic > 5)]


@pytest.mark.parametrize("minor", [False, True])
def test_estimate_key_finds_every_tonic(rng, minor):
    for tonic in range(12):
        notes = tune(diatonic_melody(rng, tonic, minor=minor))
        assert estimate_key(notes) == Key(tonic, minor), f"tonic {tonic}"


def test_key_parse_and_names():
    assert Key.parse("F# minor") == Key(6, True)
    assert Key.parse("Bb") == Key(10, False)
    assert str(Key.parse("Db major")) == "Db major"
    with pytest.raises(ValueError):
        Key.parse("H dorian")


@pytest.mark.parametrize("note_s", [0.25, 0.5, 1.0])
def test_estimate_beat_folds_note_values_into_a_walking_pace(note_s):
    notes = tune([60, 62, 64, 65] * 4, note_s=note_s)
    assert estimate_beat_s(notes) == pytest.approx(0.5)


def test_twinkle_gets_the_textbook_cadences():
    slots = [(i * 1.0, (i + 1) * 1.0, i % 2 == 0) for i in range(8)]  # half bars of 4/4 at 120
    chords = choose_chords(tune(TWINKLE), slots, Key(0), Meter(beat_s=0.5))
    assert str(chords[0]) == "C" and str(chords[-1]) == "C"
    assert str(chords[2]) == "F"  # "lit-tle" (A A) over IV
    assert str(chords[6]) == "G"  # "what you" (D D) over V
    # The note struck at the start of each slot belongs to its chord.
    for (start, _, _), chord in zip(slots, chords):
        first = next(p for s, _, p in tune(TWINKLE) if abs(s - start) < 1e-9)
        assert first % 12 in chord.pitch_classes


def test_accepts_notes_tuples_and_arrays_alike():
    notes = tune(TWINKLE)
    as_midi = [pretty_midi.Note(90, p, s, e) for s, e, p in notes]
    outputs = []
    for melody in (notes, as_midi, np.array(notes)):
        parts = accompany(melody, rng=np.random.default_rng(1))
        outputs.append([[(n.start, n.end, n.pitch) for n in p.notes] for p in parts])
    assert outputs[0] == outputs[1] == outputs[2]


@pytest.mark.parametrize("chord_pattern", CHORD_PATTERNS)
@pytest.mark.parametrize("bass_pattern", BASS_PATTERNS)
@pytest.mark.parametrize("meter", [Meter(0.5), Meter(0.5, 3), Meter(0.75, 2, 3), Meter(0.5, 2)])
def test_every_pattern_covers_the_tune_under_the_melody(chord_pattern, bass_pattern, meter):
    notes = tune(TWINKLE * 2, note_s=meter.beat_s / meter.subdivisions * 2)
    style = Style(0, chord_pattern, 32, bass_pattern, drums=True)
    chords, bass, drums = accompany(notes, rng=np.random.default_rng(0), meter=meter, style=style)
    end = notes[-1][1]
    for part in (chords, bass, drums):
        assert part.notes, part.name
        # Off-beat chords answer the bass within the first beat.
        first = meter.beat_s if part is chords and chord_pattern == "offbeat" else 0.0
        assert 0.0 <= min(n.start for n in part.notes) <= first + 1e-9
        # The band plays to the end of the last bar, and no further.
        assert max(n.end for n in part.notes) <= end + meter.bar_s + 1e-6
        assert max(n.start for n in part.notes) >= end - meter.bar_s
        assert all(n.end > n.start and 1 <= n.velocity <= 127 for n in part.notes)
    assert drums.is_drum and not chords.is_drum
    assert max(n.pitch for n in chords.notes) < np.median([p for *_, p in notes])
    assert max(n.pitch for n in bass.notes) < min(n.pitch for n in chords.notes)


def test_pickup_is_left_alone_and_bars_follow_the_meter():
    # One-beat pickup, then 3/4 bars: the band starts on the first downbeat.
    notes = tune([67] + list(TWINKLE), note_s=0.5)
    meter = Meter(beat_s=0.5, beats_per_bar=3, downbeat_s=0.5)
    chords, bass = accompany(notes, rng=np.random.default_rng(0), meter=meter, style=Style(0, "block", 32, "root"))
    assert min(n.start for n in bass.notes) == pytest.approx(0.5)
    assert sorted({round(n.start, 6) for n in bass.notes}) == pytest.approx([0.5 + 1.5 * i for i in range(6)])


def test_unknown_key_and_meter_and_style(rng):
    notes = tune(diatonic_melody(rng, 7), note_s=0.3, start=2.0)
    parts = accompany(notes, rng=rng)
    assert {p.name for p in parts} >= {"chords", "bass"}
    assert min(n.start for n in parts[1].notes) == pytest.approx(2.0)
    # Every chord tone is in G major: the estimated key was used.
    g_major = {(7 + d) % 12 for d in MAJOR_SCALE} | {6}
    assert {n.pitch % 12 for n in parts[0].notes} <= g_major


def test_empty_melody_gets_no_band(rng):
    assert accompany([], rng=rng) == []
