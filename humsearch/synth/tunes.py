"""Procedural folk-like tunes: phrases in a key, stepwise motion, repetition, cadences.

Training material beyond POP909: simple diatonic melodies of the kind people hum
(nursery rhymes, folk songs, hymns), which pop songs under-represent.
"""

from __future__ import annotations

import numpy as np

MAJOR = (0, 2, 4, 5, 7, 9, 11)
MINOR = (0, 2, 3, 5, 7, 8, 10)
# One bar's rhythm in beats, for 4/4 and 3/4.
RHYTHMS = {
    4: ((1, 1, 1, 1), (1, 1, 2), (2, 1, 1), (0.5, 0.5, 1, 1, 1), (1.5, 0.5, 1, 1), (1, 0.5, 0.5, 2),
        (2, 2), (0.5, 0.5, 0.5, 0.5, 1, 1), (1, 1, 0.5, 0.5, 1), (3, 1)),
    3: ((1, 1, 1), (2, 1), (1.5, 0.5, 1), (1, 0.5, 0.5, 1), (3,), (0.5, 0.5, 1, 1)),
}
CADENCE = {4: (2, 2), 3: (3,)}  # the last bar of a phrase lands on a long note
# Scale-degree steps: folk melodies move mostly by step, sometimes by a third, rarely further.
STEPS = (-1, 1, 0, -2, 2, -3, 3, -4, 4, -5, 5)
STEP_P = (0.3, 0.3, 0.1, 0.1, 0.1, 0.03, 0.03, 0.015, 0.015, 0.005, 0.005)


def _phrase(rng: np.random.Generator, beats: int, bars: int, start_degree: int, end_degree: int) -> list[tuple[float, int]]:
    """(duration in beats, scale degree) notes of one phrase: a random walk that ends on end_degree."""
    notes: list[tuple[float, int]] = []
    degree = start_degree
    for bar in range(bars):
        rhythm = CADENCE[beats] if bar == bars - 1 else RHYTHMS[beats][rng.integers(len(RHYTHMS[beats]))]
        for i, dur in enumerate(rhythm):
            if bar == bars - 1 and i == len(rhythm) - 1:
                degree = end_degree
            elif notes or i:
                step = rng.choice(STEPS, p=STEP_P)
                degree = int(np.clip(degree + step, -3, 10))
            notes.append((float(dur), degree))
    return notes


def random_tune(rng: np.random.Generator, *, bars_per_phrase: int = 4) -> tuple[np.ndarray, float]:
    """A tune of 4-8 phrases in a form like AABA, ABAB or AABB.

    Returns:
        ((n, 3) array of start_s, end_s, MIDI pitch; beat length in seconds).
    """
    scale = MAJOR if rng.random() < 0.7 else MINOR
    tonic = 55 + int(rng.integers(0, 12))
    beats = 4 if rng.random() < 0.7 else 3
    beat_s = float(rng.uniform(0.35, 0.7))
    form = str(rng.choice(["AABA", "ABAB", "AABB", "ABAC", "AABACA"]))
    phrases: dict[str, list[tuple[float, int]]] = {}
    ends = {"A": 4, "B": 0, "C": 2}
    for label in dict.fromkeys(form):
        phrases[label] = _phrase(rng, beats, bars_per_phrase, int(rng.choice([0, 2, 4])), ends[label])
    phrases["A_final"] = phrases["A"][:-1] + [(phrases["A"][-1][0], 0)]  # the last A comes home
    sequence = [phrases[p] for p in form[:-1]] + [phrases["A_final" if form[-1] == "A" else form[-1]]]
    sequence = sequence * int(rng.integers(1, 3))  # a second verse
    out, t = [], 0.0
    legato = rng.uniform(0.75, 0.98)
    for phrase in sequence:
        for dur, degree in phrase:
            octave, step = divmod(degree, 7)
            pitch = tonic + 12 * octave + scale[step]
            out.append((t, t + dur * beat_s * legato, pitch))
            t += dur * beat_s
    return np.array(out, dtype=np.float64), beat_s
