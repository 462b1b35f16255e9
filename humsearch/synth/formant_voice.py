"""A source-filter (Klatt-style) voice that sings a given pitch track.

Evaluation turns the real MIR-QBSH pitch tracks into audio with this, on purpose a
different synthesis from the training hums (humsearch.synth.hum: additive harmonics):
a glottal pulse train with jitter and shimmer through cascaded formant resonators.
"""

from __future__ import annotations

import numpy as np
from scipy import signal

from humsearch.synth.hum import room_and_mic

# (F1, F2, F3, F4) Hz and bandwidths: a closed-mouth "mm" and an open "ah".
FORMANTS = {"mm": ((280, 900, 2300, 3300), (60, 200, 250, 300)),
            "ah": ((700, 1150, 2600, 3500), (90, 110, 160, 250))}


def _glottal_source(f0: np.ndarray, sr: int, rng: np.random.Generator) -> np.ndarray:
    """Rosenberg glottal pulses following f0 (Hz per sample, 0 = silent), as flow derivative."""
    out = np.zeros_like(f0)
    t = 0
    while t < len(f0):
        if f0[t] <= 0:
            t += 1
            continue
        period = sr / (f0[t] * (1 + rng.normal(0, 0.01)))  # jitter
        n = int(period)
        if t + n > len(out):
            break
        open_n = int(n * 0.6)
        rise = int(open_n * 0.7)
        pulse = np.zeros(n)
        pulse[:rise] = 0.5 * (1 - np.cos(np.pi * np.arange(rise) / rise))
        pulse[rise:open_n] = np.cos(0.5 * np.pi * np.arange(open_n - rise) / max(open_n - rise, 1))
        out[t : t + n] = np.diff(pulse, prepend=0.0) * (1 + rng.normal(0, 0.05))  # shimmer
        t += n
    return out


def _resonators(x: np.ndarray, freqs, bws, sr: int) -> np.ndarray:
    for f, bw in zip(freqs, bws):
        r = np.exp(-np.pi * bw / sr)
        a = [1.0, -2 * r * np.cos(2 * np.pi * f / sr), r * r]
        x = signal.lfilter([sum(a)], a, x)  # unity gain at DC
    return x


def sing_pitch_track(times_s: np.ndarray, hz: np.ndarray, *, sr: int, rng: np.random.Generator,
                     vowel: str = "mm") -> np.ndarray:
    """Voice a pitch track (frame times, Hz with 0 = unvoiced) as humming or singing.

    Returns:
        float32 mono audio with a room, a microphone and background noise applied.
    """
    n = int((times_s[-1] + 0.3) * sr)
    t = np.arange(n) / sr
    voiced = np.interp(t, times_s, (hz > 0).astype(float)) > 0.5
    f0 = np.where(voiced, np.interp(t, times_s[hz > 0], hz[hz > 0]), 0.0)
    source = _glottal_source(f0, sr, rng) + rng.normal(0, 0.002, n) * voiced  # aspiration
    freqs, bws = FORMANTS[vowel]
    voice = _resonators(source, freqs, bws, sr)
    # Soften voicing edges (10 ms) so onsets are not clicks.
    env = np.convolve(voiced.astype(float), np.ones(int(0.01 * sr)) / int(0.01 * sr), "same")
    return room_and_mic((voice * env).astype(np.float32), sr, rng, snr_db=(15, 35))
