"""A song's or a hum's melody as a coarse pitch sequence, read off the salience map."""

from __future__ import annotations

import numpy as np
import torch

from humsearch.constants import BINS_PER_SEMITONE, FRAMES_PER_SECOND

CONTOUR_HOP = 2  # salience frames per contour step: 12.5 steps per second
CONTOUR_RATE = FRAMES_PER_SECOND / CONTOUR_HOP
VOICED_SALIENCE = 0.3  # below this peak salience a step counts as "no melody"


def contour_from_salience(salience: torch.Tensor | np.ndarray, *, voiced: float = VOICED_SALIENCE) -> np.ndarray:
    """(N_PITCH_BINS, T) salience -> uint8 (ceil(T / CONTOUR_HOP),) contour.

    Each value is 1 + the semitone index of the strongest pitch above PITCH_MIDI_LOW
    (so MIDI pitch = PITCH_MIDI_LOW + value - 1), or 0 where no melody is heard (peak
    salience below `voiced`).
    """
    values, peak = contour_peaks(salience)
    return np.where(peak >= voiced, values, 0).astype(np.uint8)


def contour_peaks(salience: torch.Tensor | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The contour before the voicing decision: (uint8 values, float32 peak salience) per step.

    Values are 1 + the semitone index of the strongest pitch (never 0); contour_from_salience
    zeroes the steps whose peak is below its threshold.
    """
    sal = torch.as_tensor(salience, dtype=torch.float32)
    n = sal.shape[1]
    pad = (-n) % CONTOUR_HOP
    sal = torch.nn.functional.pad(sal, (0, pad)).reshape(sal.shape[0], -1, CONTOUR_HOP).mean(dim=2)
    peak, where = sal.max(dim=0)
    semis = torch.div(where, BINS_PER_SEMITONE, rounding_mode="floor") + 1
    return semis.numpy().astype(np.uint8), peak.numpy().astype(np.float32)
