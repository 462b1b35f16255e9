"""Second search stage: align the query's melody contour with each candidate song's by DTW.

A contour (humsearch.melody.contour) is one semitone value per 80 ms step, 0 where no melody
is heard. Both sides keep only their voiced steps, so rests, breaths and instrumental breaks
do not count. The alignment is a subsequence DTW: the whole (voiced) query against any stretch
of the song, with local steps (1,1), (1,2) and (2,1), which allow any tempo ratio between
half and double speed (hums come at x0.7-1.4) while forbidding the degenerate paths that
plain DTW allows. It compares absolute pitches, so the melody's direction counts (an inverted
or reordered tune does not match), and it is

- steady in tempo: each (1,2) or (2,1) step, a change of speed along the path, costs
  WARP_COST on top of its pitch cost, so a song that holds the hum's notes at one speed beats
  one that a path must speed up and slow down through (loose paths let many short tunes fit
  an 8 s hum almost as well as the right one). A person hums at a steady tempo of their own,
  so the query is aligned at a few overall speeds (TEMPO_SCALES: stretched by each, nearest
  step), and the path only has to absorb what is left: x0.8-1.25 each way covers x0.7-1.4
  with about 10 % to spare;
- key-invariant: the query is transposed by whole semitones. All 12 pitch classes are tried,
  in the octave nearest the difference of the two sides' median pitches: first at half the
  time resolution, then the COARSE_KEEP best of each tempo scale at full resolution; then the
  best alignment so far shifted by the median pitch difference along its path, until that
  settles (this fixes the octave, and a pitch class the coarse pass misjudged). The cheapest
  alignment wins. Every pitch class, rather than those whose histograms match: the passage a
  hum matches is often a small part of the song range searched, whose histogram says little
  about it;
- tolerant of intonation: a pitch difference of d semitones costs min(d, COST_CAP_SEMITONES)^2
  / COST_CAP_SEMITONES^2 (a truncated square: a slightly flat note costs little, 1 semitone
  0.11, 2 semitones 0.44, a wrong note at most 1);
- tolerant of octave errors, but not blind to them: a step an octave off (the song's pitch
  tracker jumping to the 2nd harmonic, or the hummer to a comfortable octave) costs as much
  as a step a semitone off (OCTAVE_ERROR_COST);
- forgiving of a song contour that followed the wrong voice: where a song's contour has a
  second pitch per step (humsearch.melody.contour), a query step may match it instead of the
  strongest one, for ALTERNATIVE_COST more (as much as a semitone off);
- comparable across songs: the total cost is divided by the number of voiced query steps,
  giving a mean cost per step in [0, 1] (0: the same tune up to key and a steady tempo;
  capped at 1, which tempo changes could otherwise pass).

`fuse` turns kNN scores and alignment costs into the final order (see its docstring).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import numba
import numpy as np

from humsearch.melody.contour import CONTOUR_RATE

COST_CAP_SEMITONES = 3.0  # a pitch difference this large is simply "wrong note" (cost 1)
OCTAVE_ERROR_COST = 1.0 / COST_CAP_SEMITONES**2  # an octave slip costs as much as a semitone off
ALTERNATIVE_COST = 1.0 / COST_CAP_SEMITONES**2  # matching a song's second pitch: a semitone off
MIN_VOICED_STEPS = 10  # 0.8 s of melody: a query with less cannot be aligned
COARSE_KEEP = 2  # transpositions kept from the half-resolution pass, per tempo scale
MAX_REFINEMENTS = 3  # rounds of "shift by the median difference along the best path"
CONTEXT_S = 15.0  # song seconds searched either side of the place the kNN stage matched
# The DTW steps allow a query between 1/2 and 2 times the song's speed. TEMPO_SCALES widen that
# to 0.4-2.5 for extreme paths; the search range's CONTEXT_S covers the difference for queries
# up to 30 s, and Alignment.tempo stays clipped to this ratio.
MAX_TEMPO_RATIO = 2.0
TEMPO_SCALES = (0.8, 1.0, 1.25)  # the query is aligned stretched by each (see the module docstring)
WARP_COST = 0.2  # extra cost of a (1,2) or (2,1) step: a change of tempo along the path
DTW_WEIGHT = 0.8  # share of the melody alignment in the fused score (see fuse)
# Candidates aligned at once (search.rerank_hits): align() spends nearly all its time in one
# compiled call that releases the GIL (its time in Python is ~7 %), so threads share the work.
# Not Config.threads, whose default of 1 is for torch's spinning threads: on 2 cores two threads
# here cut the alignments of 100 candidates from 96 to 60 ms idle and 191 to 111 ms beside a
# 2-process job (benchmarks/README.md).
ALIGN_THREADS = min(4, os.cpu_count() or 1)


@dataclass(frozen=True)
class Alignment:
    """The best alignment of a query contour inside a song contour.

    Attributes:
        cost: mean cost per voiced query step, in [0, 1]; 0 = the same tune up to key and tempo.
        transpose: semitones added to the query for this alignment (negative: down).
        song_start_s, song_end_s: the aligned stretch of the song.
        query_start_s: time of the first voiced query step, which is aligned with song_start_s.
        tempo: song seconds per query second along the path (about 1 / the hum's tempo factor).
    """

    cost: float
    transpose: int
    song_start_s: float
    song_end_s: float
    query_start_s: float
    tempo: float

    @property
    def similarity(self) -> float:
        """1 - cost: 1 for a perfect match (benchmarks/README.md has typical values)."""
        return 1.0 - self.cost

    @property
    def playback_start_s(self) -> float:
        """Where in the song the query's own start falls (its leading silence scaled by the tempo)."""
        return max(0.0, self.song_start_s - self.query_start_s * self.tempo)


def voiced(contour: np.ndarray | None) -> np.ndarray:
    """Indices of the voiced steps of a contour (empty for None)."""
    if contour is None:
        return np.zeros(0, dtype=np.int64)
    return np.flatnonzero(np.asarray(contour))


def can_align(query: np.ndarray | None) -> bool:
    """Whether a query contour holds enough melody to be aligned at all."""
    return len(voiced(query)) >= MIN_VOICED_STEPS


def align(
    query: np.ndarray | None,
    song: np.ndarray | None,
    *,
    song_range_s: tuple[float, float] | None = None,
) -> Alignment | None:
    """Align a query contour with the best-matching stretch of a song contour.

    Args:
        query: uint8 contour of the query (0 = unvoiced), or None.
        song: uint8 contour of the song: (steps,), or (candidates, steps) with the strongest
            pitch first (humsearch.melody.contour); or None.
        song_range_s: only this part of the song (seconds, clipped to the song) is searched;
            None searches the whole song.

    Returns:
        The cheapest alignment over the transpositions tried, or None when the query has fewer
        than MIN_VOICED_STEPS voiced steps, or the song (range) has too little melody to hold
        the query even at double speed.
    """
    q_idx = voiced(query)
    if len(q_idx) < MIN_VOICED_STEPS or song is None:
        return None
    song = np.atleast_2d(np.asarray(song))
    steps = song.shape[1]
    lo, hi = 0, steps
    if song_range_s is not None:
        lo = int(np.floor(np.clip(song_range_s[0] * CONTOUR_RATE, 0, steps)))  # clip first: may be inf
        hi = int(np.ceil(np.clip(song_range_s[1] * CONTOUR_RATE, 0, steps)))
    s_idx = voiced(song[0, lo:hi]) + lo
    if len(s_idx) < (len(q_idx) + 1) // 2:  # the (2,1) step consumes at most 2 query steps per song step
        return None
    q = np.asarray(query, dtype=np.int64)[q_idx]
    s = np.ascontiguousarray(song[:, s_idx], dtype=np.int64)
    costs = step_costs(COST_CAP_SEMITONES, OCTAVE_ERROR_COST)
    centre = int(np.round(np.median(s[0]) - np.median(q)))  # ties go to the transposition nearest this
    # The whole search (a dozen or more DTWs) in one compiled call that releases the GIL, so
    # search.rerank_hits can align its candidates in threads (ALIGN_THREADS).
    t, cost, start, end = _search(q, s, np.array(TEMPO_SCALES, dtype=np.float64),
                               np.array(transposition_guesses(q, s[0]), dtype=np.int64), centre,
                               costs, ALTERNATIVE_COST, WARP_COST, COARSE_KEEP, MAX_REFINEMENTS)
    q_span = (q_idx[-1] - q_idx[0]) or 1
    tempo = float(np.clip((s_idx[end] - s_idx[start]) / q_span, 1 / MAX_TEMPO_RATIO, MAX_TEMPO_RATIO))
    return Alignment(
        cost=float(min(cost, 1.0)),  # tempo changes can push a poor match past 1
        transpose=int(t),
        song_start_s=float(s_idx[start] / CONTOUR_RATE),
        song_end_s=float((s_idx[end] + 1) / CONTOUR_RATE),
        query_start_s=float(q_idx[0] / CONTOUR_RATE),
        tempo=tempo,
    )


def warm_up() -> Alignment | None:
    """Align a made-up tune with itself, so numba compiles (or loads from its cache) the
    alignment kernels now rather than in the user's first search: about 3 s on this machine, 17 s
    the first time (numba caches them beside the module)."""
    tune = np.repeat(np.arange(20, 20 + MIN_VOICED_STEPS), 4).astype(np.uint8)
    return align(tune, np.concatenate([tune, tune]))


def transposition_guesses(query: np.ndarray, song: np.ndarray) -> list[int]:
    """Semitones to add to the query worth trying: one per pitch class, in the octave nearest the
    difference of the two sides' median pitches (that difference first).

    Args:
        query, song: voiced semitone values.
    """
    centre = int(np.round(np.median(song) - np.median(query)))
    return sorted(range(centre - 6, centre + 6), key=lambda t: abs(t - centre))


COST_TABLE_SIZE = 32  # |difference| beyond an octave plus the cap: every entry from here on is 1


def step_costs(cap: float, octave: float) -> np.ndarray:
    """Cost of an absolute pitch difference |d| at index min(|d|, COST_TABLE_SIZE - 1).

    min(|d|, cap)^2 / cap^2, or, when cheaper, `octave` plus the cost of |d| - 12 (an octave
    error with whatever intonation error remains)."""
    d = np.arange(COST_TABLE_SIZE, dtype=float)
    base = np.minimum(d, cap) ** 2 / cap**2
    return np.minimum(base, octave + np.minimum(np.abs(d - 12), cap) ** 2 / cap**2).astype(np.float32)


@numba.njit(cache=True, nogil=True)
def _round_half_even(x: float) -> int:
    """np.round of a scalar, which numba does not promise for halves."""
    r = np.floor(x)
    if x - r > 0.5 or (x - r == 0.5 and r % 2 != 0):
        r += 1
    return int(r)


@numba.njit(cache=True, nogil=True)
def stretch(values: np.ndarray, factor: float) -> np.ndarray:
    """A sequence of steps played `factor` times as long (nearest step; 1.0 returns it as is)."""
    if factor == 1.0:
        return values
    n = max(1, _round_half_even(values.size * factor))
    out = np.empty(n, values.dtype)
    for i in range(n):
        out[i] = values[min(int(i / factor), values.size - 1)]
    return out


@numba.njit(cache=True, nogil=True)
def _before(a: tuple, b: tuple, centre: int) -> bool:
    """Whether result a = (cost, scale, transpose) beats b: cheapest; ties: the transposition
    nearest `centre`, the lower one, the scale nearest 1, the slower one."""
    ka = (a[0], abs(a[2] - centre), a[2], abs(np.log(a[1])), a[1])
    kb = (b[0], abs(b[2] - centre), b[2], abs(np.log(b[1])), b[1])
    return ka < kb


@numba.njit(cache=True, nogil=True)
def _search(q: np.ndarray, s: np.ndarray, scales: np.ndarray, guesses: np.ndarray, centre: int,
            costs: np.ndarray, alternative: float, warp: float, keep: int,
            refinements: int) -> tuple[int, float, int, int]:
    """align()'s search over tempo scales and transpositions (see the module docstring).

    Args:
        q, s, costs, alternative, warp: as _subseq_dtw's (q not yet transposed or stretched).
        scales: TEMPO_SCALES; guesses: transposition_guesses(); centre: ties go to the nearest.
        keep: COARSE_KEEP; refinements: MAX_REFINEMENTS.

    Returns:
        (transpose, mean cost, first song index, last song index) of the cheapest alignment.
    """
    s_half = np.ascontiguousarray(s[:, ::2])
    stretched = [stretch(q, f) for f in scales]
    # Every alignment tried: (cost, scale, transpose) and its (start, end, median difference).
    tried = [(0.0, 1.0, 0)]  # (numba types a list by its first item)
    paths = [(0, 0, 0.0)]
    tried.clear()
    paths.clear()
    for k in range(scales.size):
        picks = guesses
        if guesses.size > keep:  # every other step of each side: a quarter of the work
            coarse = np.empty(guesses.size)
            for g in range(guesses.size):
                coarse[g] = _subseq_dtw(stretched[k][::2] + guesses[g], s_half, costs, alternative, warp, False)[0]
            order = [(coarse[g], abs(guesses[g] - centre), guesses[g]) for g in range(guesses.size)]
            order.sort()
            picks = np.array([o[2] for o in order[:keep]], dtype=np.int64)
        for t in picks:
            cost, start, end, diff = _subseq_dtw(stretched[k] + t, s, costs, alternative, warp, True)
            tried.append((cost, scales[k], t))
            paths.append((start, end, diff))
    # Shift by the median pitch difference along the best path, until that stops moving.
    for _ in range(refinements):
        best = 0
        for i in range(1, len(tried)):
            if _before(tried[i], tried[best], centre):
                best = i
        f, t = tried[best][1], tried[best][2]
        shifted = t + _round_half_even(paths[best][2])
        done = False
        for entry in tried:
            if entry[1] == f and entry[2] == shifted:
                done = True
        if done:
            break
        k = 0
        while scales[k] != f:
            k += 1
        cost, start, end, diff = _subseq_dtw(stretched[k] + shifted, s, costs, alternative, warp, True)
        tried.append((cost, f, shifted))
        paths.append((start, end, diff))
    best = 0
    for i in range(1, len(tried)):
        if _before(tried[i], tried[best], centre):
            best = i
    return tried[best][2], tried[best][0], paths[best][0], paths[best][1]


@numba.njit(cache=True, nogil=True, inline="always")
def _match(pitch: int, s: np.ndarray, j: int, costs: np.ndarray, alternative: float) -> tuple[float, int]:
    """(cost, candidate) of the song's candidate at step j that matches `pitch` cheapest; any
    candidate after the first costs `alternative` more, and a missing one (0) is skipped."""
    top = costs.size - 1
    best, pick = costs[min(abs(pitch - s[0, j]), top)], 0
    for k in range(1, s.shape[0]):
        if s[k, j] > 0:
            c = costs[min(abs(pitch - s[k, j]), top)] + alternative
            if c < best:
                best, pick = c, k
    return best, pick


@numba.njit(cache=True, nogil=True)
def _subseq_dtw(q: np.ndarray, s: np.ndarray, costs: np.ndarray, alternative: float, warp: float,
                trace: bool) -> tuple[float, int, int, float]:
    """Subsequence DTW of q inside s with steps (1,1), (1,2), (2,1).

    Every query step adds one unit of pitch cost (a (1,2) step averages the two song steps it
    covers), so the total divided by len(q) is a mean cost per query step; each (1,2) and (2,1)
    step adds `warp` on top.

    Args:
        q: voiced semitone values of the query, already transposed (int64).
        s: (candidates, n) voiced semitone values of the song (int64), strongest first, 0 = none.
        costs: step_costs(), the cost of each absolute pitch difference.
        alternative: extra cost of matching a candidate other than the first (_match).
        warp: extra cost of a (1,2) or (2,1) step.
        trace: find the path (start, median difference); without it only the cost is meaningful.

    Returns:
        (mean cost, first song index, last song index, median pitch difference s - q along the path).
    """
    m, n = q.size, s.shape[1]
    step = np.zeros((m if trace else 1, n), np.int8)  # 1: (1,1), 2: (1,2), 3: (2,1)
    # The cost of each query pitch against every song step, computed once per distinct pitch
    # rather than once per query step (a hum holds each pitch for several steps): pitch p is
    # row p - low of `match`.
    low = q.min()
    match = np.empty((q.max() - low + 1, n), np.float32)
    ready = np.zeros(match.shape[0], np.bool_)
    for i in range(m):
        r = q[i] - low
        if not ready[r]:
            for j in range(n):
                match[r, j] = _match(q[i], s, j, costs, alternative)[0]
            ready[r] = True
    # Three rolling rows of accumulated cost: i - 2, i - 1, i.
    acc2 = np.full(n, np.inf, np.float32)
    acc1 = match[q[0] - low].copy()
    acc = np.empty(n, np.float32)
    for i in range(1, m):
        prev = match[q[i - 1] - low]  # costs of row i - 1, for the (2,1) step
        row = match[q[i] - low]
        acc[0] = np.inf
        for j in range(1, n):
            c = row[j]
            best = acc1[j - 1] + c
            code = 1
            if j >= 2:
                v = acc1[j - 2] + 0.5 * (row[j - 1] + c) + warp
                if v < best:
                    best, code = v, 2
            v = acc2[j - 1] + prev[j] + c + warp  # acc2 is all inf while i < 2
            if v < best:
                best, code = v, 3
            acc[j] = best
            if trace:
                step[i, j] = code
        acc2, acc1, acc = acc1, acc, acc2
    end = 0
    for j in range(1, n):
        if acc1[j] < acc1[end]:
            end = j
    if not np.isfinite(acc1[end]):
        return 1.0, 0, n - 1, 0.0
    if not trace:
        return float(acc1[end]) / m, 0, end, 0.0
    # Walk back, collecting the pitch differences of the query steps on the path.
    diffs = np.empty(m)
    i, j = m - 1, end
    while True:
        diffs[i] = s[_match(q[i], s, j, costs, alternative)[1], j] - q[i]
        if i == 0:
            break
        code = step[i, j]
        if code == 1:
            i, j = i - 1, j - 1
        elif code == 2:
            i, j = i - 1, j - 2
        else:
            diffs[i - 1] = s[_match(q[i - 1], s, j, costs, alternative)[1], j] - q[i - 1]
            i, j = i - 2, j - 1
    return float(acc1[end]) / m, j, end, float(np.median(diffs))


def fuse(knn_scores: Sequence[float], alignments: Sequence[Alignment | None], *,
         dtw_weight: float = DTW_WEIGHT) -> np.ndarray:
    """Fused scores of candidate songs: (1 - dtw_weight) * cosine + dtw_weight * DTW similarity.

    A weighted mean of the two stages' similarities, each on its own absolute scale (cosine in
    [-1, 1], alignment similarity 1 - cost in [0, 1]). Absolute rather than per-list normalized
    scores, so a stage whose candidates all look alike (a flat list) changes little, and one
    that clearly separates them decides. Z-scored and rank-based fusion (Borda, reciprocal rank
    fusion) were measured and lose to it on the tuning set (benchmarks/rerank_fusion_check.py),
    because they give a flat stage a full vote. DTW_WEIGHT comes from the same check, on 800
    hums of 400 music21 corpus tunes no model trained on: with melody-v9 MRR is flat from 0.7
    to 0.85 (0.926-0.928) with its best at 0.8; 0.5 is 0.02 lower, 0.95 0.016 lower. With the
    steady-tempo alignment (WARP_COST, TEMPO_SCALES) it is flat from 0.7 to 0.8 (0.940-0.938).

    A candidate without an alignment (its song holds too little melody near the match) counts
    as the worst-aligned candidate: missing melody says the front end did not hear it, not that
    the tune is wrong. When no candidate has one, the kNN order stands.

    Args:
        knn_scores: the kNN stage's score (cosine) of each candidate.
        alignments: align() of each candidate, same order.
        dtw_weight: the alignment's share (DTW_WEIGHT unless a benchmark compares others).

    Returns:
        float array of fused scores, same order (higher is better).
    """
    knn = np.asarray(knn_scores, dtype=float)
    sims = [a.similarity for a in alignments if a is not None]
    worst = min(sims, default=0.0)
    dtw = np.array([a.similarity if a is not None else worst for a in alignments], dtype=float)
    return (1.0 - dtw_weight) * knn + dtw_weight * dtw
