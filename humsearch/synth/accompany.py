"""A backing band for a bare melody: bass, chords and (optionally) drums.

Works on any monophonic melody. When the key is unknown it is estimated from the melody's
pitch-class histogram (Krumhansl-Kessler profiles); when the meter is unknown the beat comes
from a given tempo or from the note durations, with four beats to the bar starting at the
first note. Chords are picked among the key's diatonic triads by a Viterbi pass over half
or whole bars that rewards melody notes in the chord and charges for changing chords, so
the harmony moves where the tune asks for it and not on every passing note.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pretty_midi

PITCH_NAMES = ("C", "Db", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
_PC_OF = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}

# Krumhansl & Kessler (1982) key profiles, index 0 = tonic.
MAJOR_PROFILE = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
MINOR_PROFILE = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])

# Diatonic triads as (degree in semitones above the tonic, minor third?, prior).
# Minor keys use the harmonic-minor dominant (major V): that is what the tunes cadence on.
# Priors (per beat) favour the primary chords I, IV and V, as folk and classical tunes do.
MAJOR_CHORDS = ((0, False, 0.5), (5, False, 0.4), (7, False, 0.45), (9, True, 0.15), (2, True, 0.15), (4, True, 0.0))
MINOR_CHORDS = ((0, True, 0.5), (5, True, 0.4), (7, False, 0.45), (8, False, 0.15), (3, False, 0.15), (10, False, 0.1))

# Weight of a melody note in a chord's score: root, third and fifth fit, anything else clashes.
FIT_ROOT, FIT_THIRD, FIT_FIFTH, CLASH = 1.0, 0.9, 0.8, -0.5
CHANGE_AT_BAR = 0.15  # cost (per beat of the slot) of a new chord on a downbeat
CHANGE_MID_BAR = 0.5  # ... and in the middle of a bar, where it sounds busier
SPLIT_BAR_BEATS = 4  # bars of at least this many beats may change chord halfway

ACCOMP_VELOCITY = 62  # chords: clearly under a lead played at ~100
BASS_VELOCITY = 78
DRUM_VELOCITY = 58

CHORD_PATTERNS = ("block", "pad", "arpeggio", "alberti", "offbeat", "strum")
BASS_PATTERNS = ("root", "root_fifth", "pulse")

# GM drum keys.
KICK, SNARE, SIDE_STICK, CLOSED_HAT, RIDE = 36, 38, 37, 42, 51

MelodyInput = Sequence[pretty_midi.Note] | Sequence[tuple[float, float, int]] | np.ndarray


@dataclass(frozen=True)
class Key:
    """A key: tonic pitch class (0 = C) and mode."""

    tonic: int
    minor: bool = False

    def __str__(self) -> str:
        return f"{PITCH_NAMES[self.tonic]} {'minor' if self.minor else 'major'}"

    @classmethod
    def parse(cls, text: str) -> Key:
        """Read "D major", "F# minor", "Bb" (major when the mode is left out).

        Raises:
            ValueError: not a key name.
        """
        parts = text.split()
        if not parts or len(parts) > 2 or parts[0][0].upper() not in _PC_OF:
            raise ValueError(f"not a key: {text!r}")
        name = parts[0]
        tonic = _PC_OF[name[0].upper()] + sum({"#": 1, "b": -1}.get(c, 99) for c in name[1:])
        mode = parts[1].lower() if len(parts) == 2 else "major"
        if tonic > 20 or mode not in ("major", "minor"):
            raise ValueError(f"not a key: {text!r}")
        return cls(tonic % 12, mode == "minor")


@dataclass(frozen=True)
class Meter:
    """Where beats and bars fall.

    Attributes:
        beat_s: seconds per beat (the counted beat: a dotted quarter in 6/8).
        beats_per_bar: beats in a bar.
        subdivisions: 2 for simple meters, 3 for compound ones (6/8, 9/8, 12/8).
        downbeat_s: time of one downbeat; bars start at downbeat_s + n * bar_s.
    """

    beat_s: float
    beats_per_bar: int = 4
    subdivisions: int = 2
    downbeat_s: float = 0.0

    @property
    def bar_s(self) -> float:
        return self.beat_s * self.beats_per_bar


@dataclass(frozen=True)
class Chord:
    """A triad: root pitch class and quality."""

    root: int
    minor: bool

    @property
    def pitch_classes(self) -> tuple[int, int, int]:
        return (self.root, (self.root + (3 if self.minor else 4)) % 12, (self.root + 7) % 12)

    def __str__(self) -> str:
        return PITCH_NAMES[self.root] + ("m" if self.minor else "")


@dataclass(frozen=True)
class Style:
    """How the band plays: GM programs and patterns."""

    chord_program: int
    chord_pattern: str  # one of CHORD_PATTERNS
    bass_program: int
    bass_pattern: str  # one of BASS_PATTERNS
    drums: bool = False


# Band line-ups that sound right together: (chord program, chord patterns, bass program).
_BANDS = (
    (0, ("block", "arpeggio", "alberti", "offbeat"), 32),  # piano, acoustic bass
    (1, ("block", "offbeat"), 33),  # bright piano, fingered bass
    (4, ("block", "arpeggio"), 33),  # electric piano
    (6, ("alberti", "arpeggio"), 42),  # harpsichord, cello
    (24, ("arpeggio", "strum"), 32),  # nylon guitar
    (25, ("strum", "arpeggio"), 33),  # steel guitar
    (48, ("pad", "offbeat"), 43),  # strings, contrabass
    (49, ("pad",), 42),  # slow strings, cello
    (19, ("pad",), 19),  # church organ with its own pedal
    (16, ("block", "offbeat"), 33),  # drawbar organ
    (21, ("offbeat", "block"), 34),  # accordion, picked bass
    (52, ("pad",), 43),  # choir aahs, contrabass
    (46, ("arpeggio",), 42),  # harp, cello
    (11, ("arpeggio", "block"), 32),  # vibraphone
)


def random_style(rng: np.random.Generator, *, drums: bool | None = None) -> Style:
    """A plausible band at random; drums with probability 0.4 unless told."""
    program, patterns, bass = _BANDS[rng.integers(len(_BANDS))]
    return Style(
        chord_program=program,
        chord_pattern=str(rng.choice(patterns)),
        bass_program=bass,
        bass_pattern=str(rng.choice(BASS_PATTERNS)),
        drums=bool(rng.random() < 0.4) if drums is None else drums,
    )


def as_note_array(melody: MelodyInput) -> np.ndarray:
    """Melody as a (n, 3) float array of (start_s, end_s, midi pitch), sorted by start."""
    if len(melody) and isinstance(melody[0], pretty_midi.Note):
        rows = [(n.start, n.end, n.pitch) for n in melody]  # type: ignore[union-attr]
    else:
        rows = [tuple(map(float, r)) for r in melody]  # type: ignore[arg-type]
    notes = np.array(rows, dtype=np.float64).reshape(-1, 3)
    return notes[np.argsort(notes[:, 0], kind="stable")]


def estimate_key(melody: MelodyInput) -> Key:
    """The key whose Krumhansl-Kessler profile best correlates with the duration-weighted
    pitch-class histogram of the melody.

    Raises:
        ValueError: the melody has no notes.
    """
    notes = as_note_array(melody)
    if not len(notes):
        raise ValueError("cannot estimate the key of an empty melody")
    hist = np.zeros(12)
    np.add.at(hist, notes[:, 2].astype(int) % 12, notes[:, 1] - notes[:, 0])
    best: tuple[float, Key] | None = None
    for tonic in range(12):
        rotated = np.roll(hist, -tonic)
        for minor, profile in ((False, MAJOR_PROFILE), (True, MINOR_PROFILE)):
            r = float(np.corrcoef(rotated, profile)[0, 1]) if hist.std() > 0 else 0.0
            if best is None or r > best[0]:
                best = (r, Key(tonic, minor))
    assert best is not None
    return best[1]


def estimate_beat_s(melody: MelodyInput) -> float:
    """Seconds per beat guessed from note spacing: the median inter-onset interval,
    doubled or halved into 0.4-0.8 s (75-150 beats per minute), where most tunes are felt.
    """
    notes = as_note_array(melody)
    iois = np.diff(notes[:, 0])
    iois = iois[iois > 0.05]
    beat = float(np.median(iois)) if len(iois) else 0.5
    while beat < 0.4:
        beat *= 2
    while beat > 0.8:
        beat /= 2
    return beat


def accompany(
    melody: MelodyInput,
    *,
    rng: np.random.Generator,
    key: Key | None = None,
    meter: Meter | None = None,
    tempo_bpm: float | None = None,
    style: Style | None = None,
) -> list[pretty_midi.Instrument]:
    """Bass, chord and optional drum parts for a monophonic melody.

    Args:
        melody: pretty_midi Notes, (start_s, end_s, pitch) tuples or an (n, 3) array.
        rng: randomness for the style (when not given) and for small velocity variations.
        key: the melody's key; estimated from its pitch classes when None.
        meter: beat and bar grid; when None, 4/4 starting at the first note, with the beat
            from tempo_bpm or, failing that, from the note spacing.
        tempo_bpm: beats per minute, used only when meter is None.
        style: instruments and patterns; random_style(rng) when None.

    Returns:
        Instruments (chords, bass, and drums when the style has them) covering the bars
        from the first downbeat at or after the first note to the end of the last note's bar.
        Empty when the melody has no notes.
    """
    notes = as_note_array(melody)
    if not len(notes):
        return []
    key = key or estimate_key(notes)
    if meter is None:
        beat = 60.0 / tempo_bpm if tempo_bpm else estimate_beat_s(notes)
        meter = Meter(beat_s=beat, downbeat_s=float(notes[0, 0]))
    style = style or random_style(rng)

    slots = _harmonic_slots(notes, meter)
    if not slots:  # a melody shorter than a bar after its pickup: harmonise the whole of it
        slots = [(float(notes[0, 0]), float(notes[-1, 1]), True)]
    chords = choose_chords(notes, slots, key, meter)
    lead_median = float(np.median(notes[:, 2]))

    chord_part = pretty_midi.Instrument(program=style.chord_program, name="chords")
    bass_part = pretty_midi.Instrument(program=style.bass_program, name="bass")
    voicing: list[int] | None = None
    for (start, end, _), chord in zip(slots, chords):
        voicing = _voice(chord, previous=voicing, ceiling=lead_median - 5)
        chord_part.notes += _chord_notes(voicing, start, end, style.chord_pattern, meter, rng)
        bass_part.notes += _bass_notes(chord, start, end, style.bass_pattern, meter, rng)
    parts = [chord_part, bass_part]
    if style.drums:
        drums = pretty_midi.Instrument(program=0, is_drum=True, name="drums")
        drums.notes += _drum_notes(slots[0][0], slots[-1][1], meter, rng)
        parts.append(drums)
    return parts


def _harmonic_slots(notes: np.ndarray, meter: Meter) -> list[tuple[float, float, bool]]:
    """(start, end, starts a bar?) of each stretch that gets one chord.

    Half bars in long bars, whole bars otherwise; from the first downbeat at or after the
    first note (a pickup is left unaccompanied) to the end of the bar holding the last note.
    """
    bar = meter.bar_s
    eps = 1e-6
    first = meter.downbeat_s + np.ceil((notes[0, 0] - meter.downbeat_s - eps) / bar) * bar
    last_end = float(notes[:, 1].max())
    n_bars = int(np.ceil((last_end - first - eps) / bar))
    halves = meter.beats_per_bar >= SPLIT_BAR_BEATS and meter.beats_per_bar % 2 == 0
    slots = []
    for i in range(max(n_bars, 0)):
        start = float(first + i * bar)
        if halves:
            slots += [(start, start + bar / 2, True), (start + bar / 2, start + bar, False)]
        else:
            slots.append((start, start + bar, True))
    return slots


def choose_chords(
    melody: MelodyInput, slots: Sequence[tuple[float, float, bool]], key: Key, meter: Meter
) -> list[Chord]:
    """One diatonic chord per slot (see the module docstring for how)."""
    notes = as_note_array(melody)
    table = MAJOR_CHORDS if not key.minor else MINOR_CHORDS
    candidates = [Chord((key.tonic + degree) % 12, minor) for degree, minor, _ in table]
    priors = np.array([p for _, _, p in table])
    fit = np.array([[_fit(c, pc) for pc in range(12)] for c in candidates])  # (chords, 12)

    scores = np.zeros((len(slots), len(candidates)))
    for i, (start, end, _) in enumerate(slots):
        beats = (end - start) / meter.beat_s
        overlap = np.clip(np.minimum(notes[:, 1], end) - np.maximum(notes[:, 0], start), 0, None)
        # A note struck at the start of the slot defines the harmony more than a passing one.
        weight = overlap / meter.beat_s * np.where(np.abs(notes[:, 0] - start) < 1e-3, 1.5, 1.0)
        pcs = notes[:, 2].astype(int) % 12
        scores[i] = fit[:, pcs] @ weight + priors * beats
    # Tunes end at home: reward the tonic in the last slot when the last note belongs to it.
    if int(notes[-1, 2]) % 12 in candidates[0].pitch_classes:
        scores[-1, 0] += 2.0

    # Viterbi: best total score minus the cost of every change of chord.
    n = len(candidates)
    total = scores[0].copy()
    total[0] += 0.5  # start at home too
    back = np.zeros((len(slots), n), dtype=int)
    for i in range(1, len(slots)):
        beats = (slots[i][1] - slots[i][0]) / meter.beat_s
        cost = (CHANGE_AT_BAR if slots[i][2] else CHANGE_MID_BAR) * beats
        stay = total
        move = total.max() - cost
        back[i] = np.where(stay >= move, np.arange(n), int(total.argmax()))
        total = np.maximum(stay, move) + scores[i]
    path = [int(total.argmax())]
    for i in range(len(slots) - 1, 0, -1):
        path.append(int(back[i, path[-1]]))
    return [candidates[j] for j in reversed(path)]


def _fit(chord: Chord, pc: int) -> float:
    root, third, fifth = chord.pitch_classes
    return {root: FIT_ROOT, third: FIT_THIRD, fifth: FIT_FIFTH}.get(pc, CLASH)


def _voice(chord: Chord, *, previous: list[int] | None, ceiling: float) -> list[int]:
    """Three chord tones between C3 and the ceiling (under the melody), moving little from the
    previous voicing while staying near the middle of that range, so they never drift away."""
    ceiling = float(np.clip(ceiling, 60, 72))
    centre = ceiling - 5
    options = []
    for bottom in range(48, int(ceiling)):
        if bottom % 12 not in chord.pitch_classes:
            continue
        tones = [bottom]
        while len(tones) < 3:
            nxt = tones[-1] + 1
            while nxt % 12 not in chord.pitch_classes:
                nxt += 1
            tones.append(nxt)
        if tones[-1] <= ceiling:
            options.append(tones)

    def cost(v: list[int]) -> float:
        moved = sum(abs(a - b) for a, b in zip(v, previous)) if previous else 0.0
        return moved + 0.5 * abs(float(np.mean(v)) - centre)

    return min(options, key=cost)


def _beats(start: float, end: float, step: float) -> Iterable[tuple[int, float]]:
    """(index, time) of every step from start up to (not including) end."""
    count = int(round((end - start) / step))
    return ((i, start + i * step) for i in range(count))


def _position(t: float, meter: Meter) -> tuple[int, int]:
    """(bar number, beat within the bar) of a time on the beat grid."""
    beat = int(round((t - meter.downbeat_s) / meter.beat_s))
    return beat // meter.beats_per_bar, beat % meter.beats_per_bar


def _vel(base: int, rng: np.random.Generator) -> int:
    return int(np.clip(base + rng.integers(-6, 7), 1, 127))


def _chord_notes(
    voicing: list[int], start: float, end: float, pattern: str, meter: Meter, rng: np.random.Generator
) -> list[pretty_midi.Note]:
    beat, sub = meter.beat_s, meter.beat_s / meter.subdivisions
    out: list[pretty_midi.Note] = []

    def add(pitch: int, t0: float, t1: float, scale: float = 1.0) -> None:
        out.append(pretty_midi.Note(_vel(int(ACCOMP_VELOCITY * scale), rng), pitch, t0, min(t1, end)))

    if pattern == "pad":
        for p in voicing:
            add(p, start, end, 0.85)
    elif pattern == "block":
        for _, t in _beats(start, end, beat):
            for p in voicing:
                add(p, t, t + 0.9 * beat)
    elif pattern == "strum":
        for i, t in _beats(start, end, beat / 2):
            down = i % 2 == 0
            order = voicing if down else voicing[::-1]
            for j, p in enumerate(order):
                add(p, t + 0.012 * j, t + beat / 2, 1.0 if down else 0.7)
    elif pattern in ("arpeggio", "alberti"):
        # Alberti: low-high-middle-high; arpeggio: up (and down) the chord.
        if pattern == "alberti":
            cycle = [0, 2, 1, 2] if meter.subdivisions == 2 else [0, 2, 1, 2, 1, 2]
        else:
            cycle = [0, 1, 2, 1] if meter.subdivisions == 2 else [0, 1, 2]
        for i, t in _beats(start, end, sub):
            add(voicing[cycle[i % len(cycle)]], t, t + 1.5 * sub, 0.9)
    elif pattern == "offbeat":
        # Oom-pah: the bass takes the strong beat, the chord answers on the others.
        if meter.subdivisions == 3:
            times = [t for i, t in _beats(start, end, sub) if i % 3 != 0]
            length = sub
        elif meter.beats_per_bar == 3:
            times = [t for i, t in _beats(start, end, beat) if i % 3 != 0]
            length = 0.8 * beat
        else:
            times = [t + sub for _, t in _beats(start, end, beat)]
            length = sub
        for t in times:
            for p in voicing:
                add(p, t, t + 0.9 * length, 0.9)
    else:
        raise ValueError(f"unknown chord pattern {pattern!r}; choose one of {CHORD_PATTERNS}")
    return out


def _bass_notes(
    chord: Chord, start: float, end: float, pattern: str, meter: Meter, rng: np.random.Generator
) -> list[pretty_midi.Note]:
    root = 36 + (chord.root - 36) % 12  # C2..B2, under the chords (C3 and up)
    fifth = root + 7 if root + 7 < 48 else root - 5
    beat = meter.beat_s
    notes = []
    if pattern == "root":
        notes.append((root, start, end))
    elif pattern == "root_fifth":
        # Root on the downbeat, fifth on the bar's other strong beat (beat 3 of 4, beat 2 of 2);
        # bars of three or one beat alternate root and fifth from bar to bar.
        per_bar = meter.beats_per_bar
        for _, t in _beats(start, end, beat):
            bar, pos = _position(t, meter)
            if pos == 0:
                tone = fifth if per_bar % 2 and bar % 2 else root
            elif per_bar % 2 == 0 and pos == per_bar // 2:
                tone = fifth
            else:
                continue
            length = beat * (per_bar // 2 if per_bar % 2 == 0 else per_bar)
            notes.append((tone, t, min(t + length, end)))
    elif pattern == "pulse":
        for i, t in _beats(start, end, beat):
            notes.append((root, t, t + 0.8 * beat))
    else:
        raise ValueError(f"unknown bass pattern {pattern!r}; choose one of {BASS_PATTERNS}")
    return [pretty_midi.Note(_vel(BASS_VELOCITY, rng), p, t0, t1) for p, t0, t1 in notes]


def _drum_notes(start: float, end: float, meter: Meter, rng: np.random.Generator) -> list[pretty_midi.Note]:
    """A light groove: kick on the downbeat (and the middle of even bars), snare or side
    stick on the other beats, closed hi-hat on every subdivision."""
    hits: list[tuple[int, float, float]] = []
    per_bar = meter.beats_per_bar
    for _, t in _beats(start, end, meter.beat_s):
        _, pos = _position(t, meter)
        if pos == 0 or (per_bar >= 4 and per_bar % 2 == 0 and pos == per_bar // 2):
            hits.append((KICK, t, 1.0))
        elif per_bar == 3:
            hits.append((SIDE_STICK, t, 0.7))
        else:
            hits.append((SNARE, t, 0.8))
        for j in range(meter.subdivisions):
            hits.append((CLOSED_HAT, t + j * meter.beat_s / meter.subdivisions, 0.6 if j else 0.8))
    return [pretty_midi.Note(_vel(int(DRUM_VELOCITY * s), rng), k, t, t + 0.1) for k, t, s in hits]
