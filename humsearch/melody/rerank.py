"""Second search stage: align the query's melody contour with each candidate song's by DTW.

A contour (humsearch.melody.contour) is one semitone value per 80 ms step, 0 where no melody
is heard. Both sides keep only their voiced steps, so rests, breaths and instrumental breaks
do not count. The alignment is a subsequence DTW: the whole (voiced) query against any stretch
of the song, with local steps (1,1), (1,2) and (2,1), which allow any tempo ratio between
half and double speed (hums come at x0.7-1.4) while forbidding the degenerate paths that
plain DTW allows. It is

- key-invariant: the query is transposed by a few candidate intervals (the best matches of
  the pitch-class histograms, then the median pitch difference along the best path +-1)
  and the cheapest alignment wins;
- robust to octave errors: pitch differences are taken modulo 12 (an octave costs nothing);
- tolerant of intonation: a step costs min(|difference|, COST_CAP_SEMITONES) / COST_CAP_SEMITONES,
  so one wrong note costs at most 1 and a slightly flat one a fraction;
- comparable across songs: the total cost is divided by the number of voiced query steps,
  giving a mean cost per step in [0, 1] (0: the same tune up to key and tempo).

`fuse` turns kNN scores and alignment costs into the final order (see its docstring).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numba
import numpy as np

from humsearch.melody.contour import CONTOUR_RATE

COST_CAP_SEMITONES = 3.0  # a pitch difference this large (mod 12) is simply "wrong note"
MIN_VOICED_STEPS = 10  # 0.8 s of melody: a query with less cannot be aligned
TRANSPOSITION_GUESSES = 2  # histogram-matched transpositions tried before refining
CONTEXT_S = 15.0  # song seconds searched either side of the place the kNN stage matched
MAX_TEMPO_RATIO = 2.0  # the DTW steps allow a query between 1/2 and 2 times the song's speed
DTW_WEIGHT = 0.5  # share of the melody alignment in the fused score (fixed; see fuse)


@dataclass(frozen=True)
class Alignment:
    """The best alignment of a query contour inside a song contour.

    Attributes:
        cost: mean cost per voiced query step, in [0, 1]; 0 = the same tune up to key and tempo.
        transpose: semitones added to the query (mod 12) for this alignment.
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
        """1 - cost: 1 for a perfect match; about 0.6 for a random tune, but 0.75-0.8 for the best
        stretch of an unrelated pop song (the alignment is flexible), and about 0.8 for the right
        song with contours from a real recording (benchmarks/README.md)."""
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
        song: uint8 contour of the song, or None.
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
    song = np.asarray(song)
    lo, hi = 0, len(song)
    if song_range_s is not None:
        lo = max(0, int(np.floor(song_range_s[0] * CONTOUR_RATE)))
        hi = min(len(song), int(np.ceil(song_range_s[1] * CONTOUR_RATE)))
    s_idx = voiced(song[lo:hi]) + lo
    if len(s_idx) < (len(q_idx) + 1) // 2:  # the (2,1) step consumes at most 2 query steps per song step
        return None
    q = np.asarray(query, dtype=np.int64)[q_idx] % 12
    s = song[s_idx].astype(np.int64) % 12
    costs = step_costs(COST_CAP_SEMITONES)

    results: dict[int, tuple[float, int, int, float]] = {}  # transpose -> (cost, start, end, median diff)

    def attempt(t: int) -> None:
        t %= 12
        if t not in results:
            results[t] = _subseq_dtw(q, s, t, costs)

    for t in transposition_guesses(q, s, TRANSPOSITION_GUESSES):
        attempt(t)
    # Around the median pitch difference along the best path found so far.
    best_t = min(results, key=lambda t: results[t][0])
    centre = best_t + int(np.round(results[best_t][3]))
    for t in (centre - 1, centre, centre + 1):
        attempt(t)

    t = min(results, key=lambda t: (results[t][0], t))
    cost, start, end, _ = results[t]
    q_span = (q_idx[-1] - q_idx[0]) or 1
    tempo = float(np.clip((s_idx[end] - s_idx[start]) / q_span, 1 / MAX_TEMPO_RATIO, MAX_TEMPO_RATIO))
    return Alignment(
        cost=float(cost),
        transpose=t,
        song_start_s=float(s_idx[start] / CONTOUR_RATE),
        song_end_s=float((s_idx[end] + 1) / CONTOUR_RATE),
        query_start_s=float(q_idx[0] / CONTOUR_RATE),
        tempo=tempo,
    )


def transposition_guesses(query: np.ndarray, song: np.ndarray, n: int) -> list[int]:
    """The n transpositions (0-11, added to the query) whose pitch-class histograms match best.

    Args:
        query, song: voiced semitone values.
    """
    hq = np.bincount(query.astype(np.int64) % 12, minlength=12).astype(float)
    hs = np.bincount(song.astype(np.int64) % 12, minlength=12).astype(float)
    # score[t] = sum_pc hq[pc] * hs[(pc + t) % 12]
    score = np.array([hq @ np.roll(hs, -t) for t in range(12)])
    return [int(t) for t in np.argsort(-score, kind="stable")[:n]]


def step_costs(cap: float) -> np.ndarray:
    """Cost of a pitch difference d in -12..11 semitones, at index d + 12: the distance to the nearest
    octave, capped at `cap`, divided by `cap`."""
    d = np.arange(-12, 12, dtype=float) % 12
    return (np.minimum(np.minimum(d, 12 - d), cap) / cap).astype(np.float32)


@numba.njit(cache=True, nogil=True)
def _subseq_dtw(q: np.ndarray, s: np.ndarray, transpose: int, costs: np.ndarray) -> tuple[float, int, int, float]:
    """Subsequence DTW of q (+ transpose) inside s with steps (1,1), (1,2), (2,1).

    Every query step adds exactly one unit of cost (a (1,2) step averages the two song steps it
    covers), so the total divided by len(q) is a mean cost per query step.

    Args:
        q, s: voiced semitone values modulo 12 (int64, 0-11).
        transpose: semitones added to q (0-11).
        costs: step_costs(), the cost of each pitch difference.

    Returns:
        (mean cost, first song index, last song index, median pitch difference s - q - transpose
        along the path, wrapped into [-6, 6)).
    """
    m, n = q.size, s.size
    qt = (q + transpose) % 12 + 12  # costs[qt[i] - s[j]] is the cost of pair (i, j)
    step = np.zeros((m, n), np.int8)  # 1: (1,1), 2: (1,2), 3: (2,1)
    # Three rolling rows of accumulated cost: i - 2, i - 1, i.
    acc2 = np.full(n, np.inf, np.float32)
    acc1 = np.empty(n, np.float32)
    for j in range(n):
        acc1[j] = costs[qt[0] - s[j]]
    prev = np.empty(n, np.float32)  # costs of row i - 1, for the (2,1) step
    for j in range(n):
        prev[j] = costs[qt[0] - s[j]]
    row = np.empty(n, np.float32)
    acc = np.empty(n, np.float32)
    for i in range(1, m):
        for j in range(n):
            row[j] = costs[qt[i] - s[j]]
        acc[0] = np.inf
        for j in range(1, n):
            c = row[j]
            best = acc1[j - 1] + c
            code = 1
            if j >= 2:
                v = acc1[j - 2] + 0.5 * (row[j - 1] + c)
                if v < best:
                    best, code = v, 2
            v = acc2[j - 1] + prev[j] + c  # acc2 is all inf while i < 2
            if v < best:
                best, code = v, 3
            acc[j] = best
            step[i, j] = code
        acc2, acc1, acc = acc1, acc, acc2
        prev, row = row, prev
    end = 0
    for j in range(1, n):
        if acc1[j] < acc1[end]:
            end = j
    if not np.isfinite(acc1[end]):
        return 1.0, 0, n - 1, 0.0
    # Walk back, collecting the wrapped pitch differences of the query steps on the path.
    diffs = np.empty(m)
    i, j = m - 1, end
    while True:
        diffs[i] = (s[j] - qt[i] + 18) % 12 - 6
        if i == 0:
            break
        code = step[i, j]
        if code == 1:
            i, j = i - 1, j - 1
        elif code == 2:
            i, j = i - 1, j - 2
        else:
            diffs[i - 1] = (s[j] - qt[i - 1] + 18) % 12 - 6
            i, j = i - 2, j - 1
    return float(acc1[end]) / m, j, end, float(np.median(diffs))


def fuse(knn_scores: Sequence[float], alignments: Sequence[Alignment | None]) -> np.ndarray:
    """Fused scores of candidate songs: (1 - DTW_WEIGHT) * cosine + DTW_WEIGHT * DTW similarity.

    A fixed rule, not tuned on evaluation data: the mean of the two stages' similarities, each
    on its own absolute scale (cosine in [-1, 1], alignment similarity in [0, 1]). Absolute
    rather than per-list normalized scores, so a stage whose candidates all look alike (a flat
    list) changes little, and one that clearly separates them decides. A candidate without an
    alignment (its song holds too little melody near the match) gets DTW similarity 0.

    Args:
        knn_scores: the kNN stage's score (cosine) of each candidate.
        alignments: align() of each candidate, same order.

    Returns:
        float array of fused scores, same order (higher is better).
    """
    knn = np.asarray(knn_scores, dtype=float)
    dtw = np.array([a.similarity if a is not None else 0.0 for a in alignments], dtype=float)
    return (1.0 - DTW_WEIGHT) * knn + DTW_WEIGHT * dtw
