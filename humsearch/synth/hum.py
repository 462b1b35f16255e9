"""Synthetic humming, singing and whistling of a melody, the way people really do it.

Used for training queries only. The singer model: transposed into a comfortable range,
its own tempo with timing jitter, per-note intonation error and slow drift, scoops into
notes, vibrato, wrong intervals, octave slips, dropped and added notes, breaths. Numbers
marked "vocadito" were measured on a real singer by `python -m humsearch.training.calibrate`
(humsearch/training/hum_calibration.json); the rest are ranges wide enough to cover
worse singers than that one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import signal

from humsearch.constants import FRAMES_PER_SECOND

CONTROL_RATE = 200  # Hz: pitch/amplitude contour resolution before upsampling

# vocadito: per-note intonation std 25 cents, within-note std 27 cents, onset scoop
# mean -23 cents (std 73), notes held for ~70% of the inter-onset interval.
INTONATION_CENTS = (20.0, 60.0)
WITHIN_NOTE_CENTS = (8.0, 25.0)
SCOOP_MEAN_CENTS = -23.0
SCOOP_STD_CENTS = 73.0

VOICES = ("hum", "la", "whistle")
# (F1, F2, F3) Hz of sung vowels; "mm" is the nasal murmur of closed-mouth humming.
VOWELS = {"a": (730, 1090, 2440), "o": (570, 840, 2410), "u": (300, 870, 2240),
          "e": (530, 1840, 2480), "i": (390, 1990, 2550)}
NASAL = (250, 1000, 2200)


@dataclass(frozen=True)
class Hum:
    audio: np.ndarray  # float32 mono at the requested rate
    f0_midi: np.ndarray  # sung pitch per model frame (FRAMES_PER_SECOND), 0 = silent
    tempo: float  # hum duration / melody duration


def _edit_notes(notes: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Wrong intervals, octave slips, dropped and added notes."""
    out = []
    for i, (on, off, p) in enumerate(notes):
        if i > 0 and rng.random() < 0.04 and out:  # dropped: the previous note is held instead
            out[-1][1] = off
            continue
        if rng.random() < 0.04:
            p += rng.choice([-2, -1, 1, 2])
        elif rng.random() < 0.015:
            p += rng.choice([-12, 12])
        if off - on > 0.4 and rng.random() < 0.04:  # added passing note
            mid = (on + off) / 2
            out.append([on, mid, p])
            out.append([mid, off, p + rng.choice([-2, -1, 1, 2])])
            continue
        out.append([on, off, p])
    return np.array(out, dtype=np.float64)


def _retime(notes: np.ndarray, tempo: float, legato: float, rng: np.random.Generator) -> np.ndarray:
    """Stretch by `tempo` with per-note jitter and slow drift; hold each note for about
    `legato` of its inter-onset interval."""
    onsets = notes[:, 0] - notes[0, 0]
    ioi = np.diff(np.append(onsets, notes[-1, 1] - notes[0, 0]))
    drift = np.exp(np.cumsum(rng.normal(0, 0.02, len(ioi))))
    new_ioi = ioi * tempo * drift * np.exp(rng.normal(0, 0.08, len(ioi)))
    new_on = np.concatenate([[0.0], np.cumsum(new_ioi)[:-1]])
    held = new_ioi * np.clip(rng.normal(legato, 0.08, len(ioi)), 0.3, 1.0)
    out = notes.copy()
    out[:, 0], out[:, 1] = new_on, new_on + np.maximum(held, 0.06)
    return out


def _formant_gain(freqs: np.ndarray, formants: np.ndarray, tilt: float) -> np.ndarray:
    """Gain at `freqs` (harmonics, frames) of a 3-formant envelope per frame (frames, 3)."""
    gain = np.zeros_like(freqs)
    for j, (bw, a) in enumerate(zip((90.0, 120.0, 180.0), (1.0, 0.6, 0.3))):
        gain += a / (1.0 + ((freqs - formants[None, :, j]) / bw) ** 2)
    return gain * np.maximum(freqs / 200.0, 1.0) ** (-tilt)


def _voice(f0_hz: np.ndarray, amp: np.ndarray, voice: str, note_idx: np.ndarray, sr: int,
           rng: np.random.Generator) -> np.ndarray:
    """Harmonic source shaped by formants, plus breath noise. Inputs at the control rate."""
    n = int(len(f0_hz) * sr / CONTROL_RATE)
    t_ctrl = np.arange(len(f0_hz)) / CONTROL_RATE
    t = np.arange(n) / sr
    phase = 2 * np.pi * np.cumsum(np.interp(t, t_ctrl, f0_hz)) / sr
    if voice == "whistle":
        out = np.sin(phase) + 0.05 * np.sin(2 * phase)
        breath_level = rng.uniform(0.02, 0.1)
    else:
        if voice == "hum":
            table, tilt = np.array([NASAL]), rng.uniform(1.5, 3.0)
            formants = table[np.zeros_like(note_idx)]
        else:
            table, tilt = np.array(list(VOWELS.values())), rng.uniform(0.5, 1.5)
            formants = table[rng.integers(len(table), size=note_idx.max() + 1)][note_idx]
        formants = formants * rng.uniform(0.85, 1.2)  # vocal tract length
        n_harm = int(min(40, 7000 / max(f0_hz.max(), 60.0)))
        fk = np.arange(1, n_harm + 1)[:, None] * f0_hz[None, :]
        gains = _formant_gain(fk, formants, tilt) * (fk < 7500)
        out = np.zeros(n)
        for k in range(n_harm):
            out += np.interp(t, t_ctrl, gains[k]) * np.sin((k + 1) * phase + rng.uniform(0, 2 * np.pi))
        breath_level = rng.uniform(0.005, 0.05)
    env = np.interp(t, t_ctrl, amp)
    noise = signal.lfilter([1, -0.9], [1], rng.normal(0, 1, n)) * breath_level
    return (out / max(np.abs(out).max(), 1e-9) + noise) * env


def _consonants(amp: np.ndarray, notes: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """"la/da" onsets: a short dip in loudness at each note start."""
    for on, _, _ in notes:
        i = int(on * CONTROL_RATE)
        w = int(rng.uniform(0.03, 0.07) * CONTROL_RATE)
        amp[i : i + w] *= np.linspace(0.2, 1.0, len(amp[i : i + w]))
    return amp


def room_and_mic(audio: np.ndarray, sr: int, rng: np.random.Generator, *, snr_db: tuple[float, float] = (5, 40)) -> np.ndarray:
    """Room reverb, a cheap microphone's band limits and colour, background noise."""
    x = audio.astype(np.float64)
    if rng.random() < 0.7:
        rt60 = rng.uniform(0.15, 0.9)
        ir_t = np.arange(int(rt60 * sr)) / sr
        ir = rng.normal(0, 1, ir_t.size) * np.exp(-6.9 * ir_t / rt60)
        ir[0] = 1.0 / rng.uniform(0.2, 0.6)
        wet = signal.fftconvolve(x, ir)[: x.size]
        x = x + wet * (np.abs(x).max() / max(np.abs(wet).max(), 1e-9)) * rng.uniform(0.1, 0.6)
    lo, hi = rng.uniform(60, 300), rng.uniform(3000, 7600)
    x = signal.sosfilt(signal.butter(2, [lo, hi], btype="band", fs=sr, output="sos"), x)
    if rng.random() < 0.3:  # small-speaker/mic resonance
        b, a = signal.iirpeak(rng.uniform(800, 3000), rng.uniform(1, 4), fs=sr)
        x = x + 0.5 * signal.lfilter(b, a, x)
    x /= max(np.abs(x).max(), 1e-9)
    kind = rng.integers(3)
    noise = rng.normal(0, 1, x.size)
    if kind == 1:
        noise = signal.lfilter([1], [1, -0.98], noise)  # brownish rumble
    elif kind == 2:
        noise = signal.lfilter([0.05], [1, -0.95], noise)  # pinkish
        mains = rng.choice([50.0, 60.0])
        noise += 0.5 * np.sin(2 * np.pi * mains * np.arange(x.size) / sr) * noise.std() * 3
    snr = rng.uniform(*snr_db)
    p_sig = np.mean(x[np.abs(x) > 0.05 * np.abs(x).max()] ** 2) if np.any(x) else 1.0
    noise *= np.sqrt(p_sig / (np.mean(noise ** 2) + 1e-12) / 10 ** (snr / 10))
    x = x + noise
    if rng.random() < 0.2:  # overdriven input
        x = np.tanh(x * rng.uniform(1.5, 4.0))
    return (0.9 * x / max(np.abs(x).max(), 1e-9)).astype(np.float32)


@dataclass(frozen=True)
class SungLine:
    """What a singer does with a melody, before any sound: pitch and loudness at CONTROL_RATE."""

    midi: np.ndarray  # sung pitch (fractional MIDI) per control step; meaningful where amp > 0
    amp: np.ndarray  # loudness envelope per control step, 0 = silent
    note_idx: np.ndarray  # which sung note each control step belongs to
    notes: np.ndarray  # (n, 3) the notes as sung: start_s, end_s (after lead_in), intended pitch
    voice: str
    tempo: float  # sung duration / melody duration
    lead_in: float  # seconds of silence before the first note

    def f0_frames(self) -> np.ndarray:
        """Sung pitch per model frame (FRAMES_PER_SECOND), 0 where silent."""
        n_ctrl = len(self.amp)
        frame_t = np.arange(int(n_ctrl / CONTROL_RATE * FRAMES_PER_SECOND)) / FRAMES_PER_SECOND
        idx = np.minimum((frame_t * CONTROL_RATE).astype(int), n_ctrl - 1)
        return np.where(self.amp[idx] > 0.05, self.midi[idx], 0.0).astype(np.float32)


def sing(notes: np.ndarray, *, rng: np.random.Generator, tempo: float | None = None,
         voice: str | None = None) -> SungLine:
    """The singer model without the voice: timing, intonation and phrasing of a sung melody.

    Args:
        notes: (n, 3) array of (start_s, end_s, midi_pitch), monophonic, in song time.
        rng: randomness source (every choice is drawn from it).
        tempo: hum duration / melody duration; random in [0.7, 1.4] when None.
        voice: one of VOICES; random when None (it sets the singer's range).
    """
    notes = np.asarray(notes, dtype=np.float64)
    tempo = float(rng.uniform(0.7, 1.4)) if tempo is None else tempo
    voice = str(rng.choice(VOICES, p=[0.5, 0.35, 0.15])) if voice is None else voice
    # Many people hum in one breath, gliding from note to note; others detach every note.
    connected = rng.random() < 0.5
    notes = _retime(_edit_notes(notes, rng), tempo, 1.0 if connected else rng.uniform(0.6, 0.95), rng)
    dip = rng.uniform(0.2, 0.7)  # how far loudness drops between connected notes

    # Key: a comfortable centre for this singer, not snapped to A440.
    centre = {"hum": rng.choice([rng.normal(50, 3), rng.normal(60, 3)]),
              "la": rng.choice([rng.normal(52, 3), rng.normal(62, 3)]),
              "whistle": rng.normal(79, 3)}[voice]
    pitches = notes[:, 2] + (centre - np.median(notes[:, 2]))
    pitches = pitches + np.cumsum(rng.normal(0, rng.uniform(3, 12), len(pitches))) / 100  # drift
    pitches = pitches + rng.normal(0, rng.uniform(*INTONATION_CENTS), len(pitches)) / 100

    lead_in = rng.uniform(0.1, 0.6)
    total = notes[-1, 1] + lead_in + rng.uniform(0.2, 0.8)
    n_ctrl = int(total * CONTROL_RATE)
    t = np.arange(n_ctrl) / CONTROL_RATE
    midi = np.zeros(n_ctrl)
    amp = np.zeros(n_ctrl)
    note_idx = np.zeros(n_ctrl, dtype=int)
    within = rng.uniform(*WITHIN_NOTE_CENTS) / 100
    vib_depth, vib_rate = rng.uniform(0.1, 0.5), rng.uniform(4.5, 6.5)
    for i, ((on, off, _), p) in enumerate(zip(notes, pitches)):
        a, b = int((on + lead_in) * CONTROL_RATE), int((off + lead_in) * CONTROL_RATE)
        if b <= a:
            continue
        tt = t[a:b] - t[a]
        scoop = rng.normal(SCOOP_MEAN_CENTS, SCOOP_STD_CENTS) / 100 * np.exp(-tt / rng.uniform(0.03, 0.08))
        vib = vib_depth * np.sin(2 * np.pi * vib_rate * tt) * np.clip((tt - 0.2) / 0.2, 0, 1)
        wobble = np.convolve(rng.normal(0, within, tt.size), np.ones(8) / np.sqrt(8), "same")
        midi[a:b] = p + scoop + vib + wobble
        attack, release = rng.uniform(0.02, 0.06), rng.uniform(0.04, 0.1)
        env = np.minimum(np.clip(tt / attack, 0, 1), np.clip((tt[-1] - tt) / release, 0, 1))
        if connected:  # no silence where the neighbouring note follows without a gap
            half = tt < tt[-1] / 2
            joined_prev = i > 0 and on - notes[i - 1, 1] < 0.05
            joined_next = i + 1 < len(notes) and notes[i + 1, 0] - off < 0.05
            env = np.maximum(env, dip * np.where(half, joined_prev, joined_next))
        amp[a:b] = env * 10 ** (rng.normal(0, 3) / 20)
        note_idx[a:b] = i
    return SungLine(midi, amp, note_idx, notes + [lead_in, lead_in, 0], voice, tempo, lead_in)


def synthesize_hum(notes: np.ndarray, *, sr: int, rng: np.random.Generator,
                   tempo: float | None = None, voice: str | None = None) -> Hum:
    """Sing a melody like a person would.

    Args:
        notes: (n, 3) array of (start_s, end_s, midi_pitch), monophonic, in song time.
        sr: output sample rate.
        rng: randomness source (every choice is drawn from it).
        tempo: hum duration / melody duration; random in [0.7, 1.4] when None.
        voice: one of VOICES; random when None.

    Returns:
        Hum with audio, per-frame sung pitch (for supervising the pitch front end) and tempo.
    """
    line = sing(notes, rng=rng, tempo=tempo, voice=voice)
    amp = line.amp.copy()
    t = np.arange(len(amp)) / CONTROL_RATE
    # Glide through short gaps (legato) instead of jumping: fill silent f0 with neighbours.
    voiced = amp > 0
    f0_hz = 440.0 * 2 ** ((np.interp(t, t[voiced], line.midi[voiced]) - 69) / 12)
    if line.voice == "la":
        amp = _consonants(amp, line.notes, rng)
    audio = _voice(f0_hz, amp, line.voice, line.note_idx, sr, rng)
    audio = room_and_mic(audio, sr, rng)
    return Hum(audio=audio, f0_midi=line.f0_frames(), tempo=line.tempo)
