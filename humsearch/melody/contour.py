"""A song's or a hum's melody as a coarse pitch sequence, read off the salience map.

A contour holds one value per CONTOUR_HOP salience frames: 1 + the semitone index of the
strongest pitch above PITCH_MIDI_LOW (so MIDI pitch = PITCH_MIDI_LOW + value - 1), or 0 where no
melody is heard. A query's contour is that one row. A song's contour has a second row, the
next strongest pitch of the step (0 where there is none): in a full arrangement the front end
sometimes hears an accompanying voice louder than the tune (a vibraphone or reed lead under
chords), and the melody alignment may then follow the tune in the second row, at a price
(humsearch.melody.rerank.ALTERNATIVE_COST).
"""

from __future__ import annotations

import numpy as np
import torch

from humsearch.constants import BINS_PER_SEMITONE, FRAMES_PER_SECOND

CONTOUR_HOP = 2  # salience frames per contour step: 12.5 steps per second
CONTOUR_RATE = FRAMES_PER_SECOND / CONTOUR_HOP
VOICED_SALIENCE = 0.3  # below this peak salience a step of a hum counts as "no melody"
# A song's melody is often heard less surely than a hum (a quiet vibraphone or choir lead under
# the band), and a step of a song misheard costs less than a hum's note lost, so songs keep
# fainter steps.
SONG_VOICED_SALIENCE = 0.2
SONG_CANDIDATES = 2  # pitches per step a song's contour keeps (the strongest first)


def contour_from_salience(salience: torch.Tensor | np.ndarray, *, voiced: float = VOICED_SALIENCE,
                          candidates: int = 1) -> np.ndarray:
    """(N_PITCH_BINS, T) salience -> uint8 contour of ceil(T / CONTOUR_HOP) steps.

    Args:
        voiced: peak salience below which a step (or a candidate) counts as "no melody".
        candidates: 1 gives the (steps,) contour of the strongest pitch; more give a
            (candidates, steps) array whose row k is the (k+1)-th strongest pitch that is a
            peak of its own (not a neighbour of a stronger one), 0 where it is below `voiced`.
    """
    values, peak = contour_peaks(salience, candidates=max(candidates, 1))
    out = np.where(peak >= voiced, values, 0).astype(np.uint8)
    return out[0] if candidates <= 1 else out


def contour_peaks(salience: torch.Tensor | np.ndarray, *, candidates: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """The contour before the voicing decision: (uint8 values, float32 peak salience), each
    (candidates, steps), strongest pitch first.

    Salience is averaged over each step's frames, then maximised over each semitone's bins.
    Row 0 is the strongest semitone (never 0). Each further row is the strongest semitone
    that is a local maximum and not within a semitone of a row above; where no such semitone
    is left its value is 0 and its peak salience 0.
    """
    sal = torch.as_tensor(salience, dtype=torch.float32)
    n = sal.shape[1]
    pad = (-n) % CONTOUR_HOP
    sal = torch.nn.functional.pad(sal, (0, pad)).reshape(sal.shape[0], -1, CONTOUR_HOP).mean(dim=2)
    semis = sal.reshape(-1, BINS_PER_SEMITONE, sal.shape[1]).amax(dim=1)  # (semitones, steps)
    values = np.zeros((candidates, semis.shape[1]), np.uint8)
    peaks = np.zeros((candidates, semis.shape[1]), np.float32)
    peak, where = semis.max(dim=0)
    values[0], peaks[0] = where.numpy() + 1, peak.numpy()
    if candidates > 1:
        padded = torch.nn.functional.pad(semis[None], (0, 0, 1, 1), value=-1.0)[0]
        local_max = (semis >= padded[:-2]) & (semis >= padded[2:])
        left = torch.where(local_max, semis, torch.zeros_like(semis))
        steps = torch.arange(semis.shape[1])
        for k in range(1, candidates):
            for shift in (-1, 0, 1):  # the last pick and its neighbours are taken
                left[(where + shift).clamp(0, semis.shape[0] - 1), steps] = 0.0
            peak, where = left.max(dim=0)
            has = peak > 0
            values[k] = np.where(has.numpy(), where.numpy() + 1, 0)
            peaks[k] = peak.numpy()
    return values, peaks
