"""The small melody notation the demo tunes are written in (see tunes.txt for the syntax).

A tune is a header of `field: value` lines, named sections of bars, and a form that strings
sections together (optionally transposed: `A+12` is section A an octave up). The parser checks
that every bar holds what the meter says, except a pickup bar opening a section and a short
bar closing one, and that those land on the bar grid; so a mistyped duration fails loudly.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pretty_midi

from humsearch.synth.accompany import Key, Meter

TUNES_FILE = Path(__file__).with_name("tunes.txt")

DURATIONS = {"w": 4.0, "h": 2.0, "q": 1.0, "e": 0.5, "s": 0.25}  # in quarter notes
_TOKEN = re.compile(r"(?P<pitch>[A-G][#b]?-?\d|r)(?P<dur>[whqes])(?P<dot>\.?)(?P<tie>~?)")
_FIELD = re.compile(r"([a-z]+):\s*(.*)")
_SECTION = re.compile(r"([A-Z][A-Za-z0-9]*):\s*(.*)")
_FORM_ITEM = re.compile(r"([A-Z][A-Za-z0-9]*)([+-]\d+)?")
_EPS = 1e-9
REQUIRED = ("title", "composer", "key", "meter", "tempo", "lead", "form")


@dataclass(frozen=True)
class Event:
    """A note (pitch is a MIDI number) or a rest (pitch None); tie joins it to the next note."""

    pitch: int | None
    quarters: float
    tie: bool = False


Bar = tuple[Event, ...]


@dataclass(frozen=True)
class Tune:
    """One tune of the demo catalog.

    Attributes:
        title: display title; also the audio file's name.
        composer: who wrote it and when (all of them are long out of copyright).
        key: the key it is written in.
        meter: (beats, beat unit), e.g. (6, 8).
        tempo: quarter notes per minute (also in compound meters).
        lead: General MIDI instrument name of the melody.
        drums: whether the backing band has a drummer.
        sections: section name -> bars.
        form: (section name, transposition in semitones) in playing order.
    """

    title: str
    composer: str
    key: Key
    meter: tuple[int, int]
    tempo: float
    lead: str
    drums: bool
    sections: dict[str, tuple[Bar, ...]]
    form: tuple[tuple[str, int], ...]

    @property
    def bar_quarters(self) -> float:
        """Length of a full bar in quarter notes."""
        return self.meter[0] * 4 / self.meter[1]

    @property
    def quarter_s(self) -> float:
        return 60.0 / self.tempo

    def bars(self) -> list[Bar]:
        """Every bar in playing order, transpositions applied."""
        out = []
        for name, shift in self.form:
            for bar in self.sections[name]:
                out.append(tuple(Event(None if e.pitch is None else e.pitch + shift, e.quarters, e.tie) for e in bar))
        return out

    def pickup_quarters(self) -> float:
        """Length of the opening pickup (0 when the tune starts on a downbeat)."""
        first = sum(e.quarters for e in self.bars()[0])
        return first if first < self.bar_quarters - _EPS else 0.0

    def notes(self) -> list[tuple[float, float, int]]:
        """The melody as (start_s, end_s, midi pitch), tied notes merged."""
        out: list[list[float]] = []
        t = 0.0
        tied = False
        for bar in self.bars():
            for e in bar:
                length = e.quarters * self.quarter_s
                if e.pitch is not None:
                    if tied and out and out[-1][2] == e.pitch:
                        out[-1][1] = t + length
                    else:
                        out.append([t, t + length, e.pitch])
                tied = e.tie
                t += length
        return [(s, e, int(p)) for s, e, p in out]

    def duration_s(self) -> float:
        return sum(e.quarters for bar in self.bars() for e in bar) * self.quarter_s

    def meter_grid(self) -> Meter:
        """Beat and bar grid for the accompaniment (compound meters count dotted quarters)."""
        beats, unit = self.meter
        compound = unit == 8 and beats % 3 == 0
        beat_quarters = 1.5 if compound else 4 / unit
        return Meter(
            beat_s=beat_quarters * self.quarter_s,
            beats_per_bar=beats // 3 if compound else beats,
            subdivisions=3 if compound else 2,
            downbeat_s=self.pickup_quarters() * self.quarter_s,
        )

    def lead_program(self) -> int:
        return pretty_midi.instrument_name_to_program(self.lead)


def parse_event(token: str) -> Event:
    """One token: pitch (C4 = middle C, # or b) or r for a rest, then w h q e s, an optional
    dot, and an optional ~ tying it to the next note. E.g. `F#4q.`, `rh`, `A4h~`.

    Raises:
        ValueError: malformed token.
    """
    m = _TOKEN.fullmatch(token)
    if not m:
        raise ValueError(f"bad note {token!r} (expected e.g. C4q, F#4e., Bb3h~ or rq)")
    quarters = DURATIONS[m["dur"]] * (1.5 if m["dot"] else 1.0)
    pitch = None if m["pitch"] == "r" else pretty_midi.note_name_to_number(m["pitch"])
    return Event(pitch, quarters, bool(m["tie"]))


def parse_tunes(text: str) -> list[Tune]:
    """Parse a tunes file; tunes start at each `title:` line.

    Raises:
        ValueError: a syntax error or a bar that does not fit the meter (message names the tune).
    """
    blocks: list[list[str]] = []
    for raw in text.splitlines():
        # A sharp sign inside a note (F#4) is not a comment: only " #" or a leading # starts one.
        line = re.split(r"\s#", raw, maxsplit=1)[0].rstrip() if not raw.lstrip().startswith("#") else ""
        if not line:
            continue
        if line.startswith("title:"):
            blocks.append([])
        if not blocks:
            raise ValueError(f"text before the first 'title:' line: {line!r}")
        if line[0].isspace() and blocks[-1]:
            blocks[-1][-1] += " " + line.strip()  # continuation of the previous field or section
        else:
            blocks[-1].append(line)
    return [_parse_block(lines) for lines in blocks]


def load_tunes(path: Path = TUNES_FILE) -> list[Tune]:
    """The demo catalog's tunes."""
    return parse_tunes(path.read_text(encoding="utf-8"))


def _parse_block(lines: list[str]) -> Tune:
    fields: dict[str, str] = {}
    sections: dict[str, tuple[Bar, ...]] = {}
    title = lines[0].partition(":")[2].strip()
    try:
        for line in lines:
            if m := _FIELD.fullmatch(line):
                fields[m[1]] = m[2].strip()
            elif m := _SECTION.fullmatch(line):
                sections[m[1]] = _parse_bars(m[1], m[2])
            else:
                raise ValueError(f"cannot read line {line!r}")
        missing = [f for f in REQUIRED if f not in fields]
        if missing:
            raise ValueError(f"missing field(s): {', '.join(missing)}")
        num, _, den = fields["meter"].partition("/")
        form = []
        for item in fields["form"].split():
            m = _FORM_ITEM.fullmatch(item)
            if not m or m[1] not in sections:
                raise ValueError(f"form names unknown section {item!r}")
            form.append((m[1], int(m[2] or 0)))
        tune = Tune(
            title=title,
            composer=fields["composer"],
            key=Key.parse(fields["key"]),
            meter=(int(num), int(den)),
            tempo=float(fields["tempo"]),
            lead=fields["lead"],
            drums=fields.get("drums", "no") == "yes",
            sections=sections,
            form=tuple(form),
        )
        tune.lead_program()  # raises ValueError for an unknown instrument name
        _check_bars(tune)
    except ValueError as e:
        raise ValueError(f"tune {title!r}: {e}") from e
    return tune


def _parse_bars(name: str, text: str) -> tuple[Bar, ...]:
    bars = []
    for i, chunk in enumerate(p for p in text.split("|") if p.strip()):
        try:
            bars.append(tuple(parse_event(tok) for tok in chunk.split()))
        except ValueError as e:
            raise ValueError(f"section {name}, bar {i + 1}: {e}") from e
    if not bars:
        raise ValueError(f"section {name} has no bars")
    return tuple(bars)


def _check_bars(tune: Tune) -> None:
    """Every bar line on the bar grid; short bars only as a section's pickup or ending."""
    full = tune.bar_quarters
    origin = tune.pickup_quarters()
    t = 0.0

    def on_grid(x: float) -> bool:
        k = (x - origin) / full
        return abs(k - round(k)) < 1e-6

    for name, _ in tune.form:
        bars = tune.sections[name]
        for i, bar in enumerate(bars):
            length = sum(e.quarters for e in bar)
            where = f"section {name}, bar {i + 1}"
            if length > full + _EPS:
                raise ValueError(f"{where} holds {length:g} quarters, the meter allows {full:g}")
            if abs(length - full) < _EPS:
                if not on_grid(t):
                    raise ValueError(f"{where} starts off the beat grid (check the bars before it)")
            elif i == 0 and on_grid(t + length):
                pass  # pickup into the section
            elif i == len(bars) - 1 and on_grid(t):
                pass  # short closing bar, completed by the next section's pickup
            else:
                raise ValueError(f"{where} holds {length:g} quarters, expected {full:g}")
            t += length
    events = [e for bar in tune.bars() for e in bar]
    for e, nxt in zip(events, events[1:] + [None]):
        if e.tie and (nxt is None or nxt.pitch != e.pitch or e.pitch is None):
            raise ValueError("a tie (~) must join two notes of the same pitch")
