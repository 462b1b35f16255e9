"""Melody re-ranking: DTW alignment of contours, score fusion, and the second search stage."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from conftest import MusicFolder
from humsearch.embedders.base import QueryEmbedding
from humsearch.melody import rerank
from humsearch.melody.contour import CONTOUR_RATE
from humsearch.melody.rerank import Alignment, align, can_align, fuse
from humsearch.stores.base import SongDoc
from humsearch.stores.local import LocalStore
from indexer import index_folder, song_id
from search import Hit, rerank_hits, search
from toy import SR, ToyMelodyEmbedder, tones, toy_contour


def tune(rng: np.random.Generator, notes: int) -> tuple[np.ndarray, np.ndarray]:
    """A random contour: (contour, start step of each note); notes of 3-8 steps, some rests."""
    pitches = rng.integers(20, 40, notes)
    lengths = rng.integers(3, 9, notes)
    contour = np.repeat(pitches, lengths).astype(np.uint8)
    onsets = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    contour[onsets[1:][rng.random(notes - 1) < 0.3]] = 0  # short gaps between some notes
    return contour, onsets


def hum_of(contour: np.ndarray, rng: np.random.Generator, *, transpose: int, tempo: float) -> np.ndarray:
    """How a person might hum a contour: other key, other tempo, wrong notes, octave slips, breaths."""
    steps = np.arange(0, len(contour), tempo)  # tempo > 1: faster than the song
    hum = contour[steps.astype(int)].astype(int)
    on = hum > 0
    hum[on] += transpose
    hum[on] += rng.choice([-1, 0, 1], on.sum(), p=[0.05, 0.9, 0.05])  # intonation errors
    slips = on & (rng.random(len(hum)) < 0.05)
    hum[slips] += 12  # octave errors of the pitch tracker
    for start in rng.integers(0, len(hum) - 5, 3):  # breaths
        hum[start : start + 4] = 0
    return np.concatenate([np.zeros(6, int), hum]).astype(np.uint8)  # a moment of silence first


def test_finds_a_transposed_faster_noisy_copy_among_distractors(rng: np.random.Generator) -> None:
    songs = [tune(rng, 60)[0] for _ in range(20)]
    target = 7
    start = 120  # contour steps into the song: 9.6 s
    query = hum_of(songs[target][start : start + 150], rng, transpose=-5, tempo=1.3)

    alignments = [align(query, s) for s in songs]
    costs = [a.cost for a in alignments]
    assert int(np.argmin(costs)) == target
    best = alignments[target]
    assert best.cost < 0.1
    assert best.cost < sorted(costs)[1] / 3  # clearly apart from the best distractor
    assert best.transpose == 5  # semitones that bring the hum back to the song's key
    assert best.song_start_s == pytest.approx(start / CONTOUR_RATE, abs=0.5)
    assert best.tempo == pytest.approx(1.3, abs=0.15)
    assert best.playback_start_s == pytest.approx((start - 6 * 1.3) / CONTOUR_RATE, abs=0.5)


def test_slower_hum_and_song_range(rng: np.random.Generator) -> None:
    song, _ = tune(rng, 80)
    query = hum_of(song[200:300], rng, transpose=3, tempo=0.7)
    whole = align(query, song)
    assert whole is not None and whole.song_start_s == pytest.approx(200 / CONTOUR_RATE, abs=0.5)
    near = align(query, song, song_range_s=(10.0, 30.0))
    assert near == whole
    away = align(query, song, song_range_s=(0.0, 12.0))  # the passage is not in there
    assert away is None or away.cost > whole.cost + 0.2


@pytest.mark.parametrize("shift", [-7, -1, 1, 4, 6, 12, -12])
def test_cost_does_not_depend_on_the_key(rng: np.random.Generator, shift: int) -> None:
    song, _ = tune(rng, 60)
    query = hum_of(song[100:220], rng, transpose=0, tempo=1.0)
    reference = align(query, song)
    shifted = query.astype(int)
    shifted[shifted > 0] += shift + 12  # + 12 keeps values positive
    moved = align(shifted.astype(np.uint8), song)
    assert moved.cost == pytest.approx(reference.cost, abs=1e-6)
    assert moved.transpose == reference.transpose - shift - 12
    assert moved.song_start_s == reference.song_start_s


def test_a_near_miss_key_guess_is_corrected_along_the_path(
    rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch
) -> None:
    song, _ = tune(rng, 60)
    query = hum_of(song[100:220], rng, transpose=4, tempo=1.0)
    reference = align(query, song)
    assert reference.transpose == -4
    # First guesses a semitone off (a hum sung a bit sharp): the median along the path corrects it.
    monkeypatch.setattr(rerank, "transposition_guesses", lambda q, s: [-3])
    assert align(query, song) == reference
    monkeypatch.setattr(rerank, "transposition_guesses", lambda q, s: [-4 + 12])  # and an octave off
    assert align(query, song) == reference


def test_melodic_direction_counts(rng: np.random.Generator) -> None:
    # A scale run up and down, and the same notes with every step turned around (up a tone
    # becomes down a minor seventh): note for note the same pitch classes, another melody.
    run = np.array([0, 2, 4, 5, 7, 9, 11, 12, 11, 9, 7, 5, 4, 2, 0])
    steps = np.diff(run)
    turned_run = np.concatenate([[0], np.cumsum(steps - 12 * np.sign(steps))])
    assert np.all((turned_run - run) % 12 == 0)
    phrase, turned = (np.repeat(100 + r, 4).astype(np.uint8) for r in (run, turned_run))
    song = np.concatenate([tune(rng, 30)[0], phrase - 76, tune(rng, 30)[0]])
    assert align(phrase, song).cost == 0.0  # (100 - 76 = 24: any key will do)
    # Compared by pitch class, `turned` would cost 0 as well.
    assert align(turned, song).cost > 0.5


def test_an_octave_error_costs_a_little(rng: np.random.Generator) -> None:
    song, _ = tune(rng, 60)
    query = song[100:220].astype(int)
    clean = align(query.astype(np.uint8), song)
    assert clean.cost == 0.0
    on = np.flatnonzero(query)
    slips = rng.choice(on, len(on) // 10, replace=False)
    query[slips] += 12
    slipped = align(query.astype(np.uint8), song)
    assert slipped.transpose == 0 and slipped.song_start_s == clean.song_start_s
    assert 0.0 < slipped.cost <= len(slips) * rerank.OCTAVE_ERROR_COST / len(on) + 1e-6


def test_a_song_contour_that_followed_another_voice_matches_through_its_second_row(
        rng: np.random.Generator) -> None:
    song, _ = tune(rng, 60)
    voice, _ = tune(rng, 60)  # an accompanying voice the front end heard louder than the tune
    n = min(len(song), len(voice))
    # Heard where the tune sounds (it only hides the tune: steps it added in the tune's rests
    # would be skipped at WARP_COST, blurring the bound below).
    louder = (voice[:n] > 0) & (song[:n] > 0)
    heard = np.stack([np.where(louder, voice[:n], song[:n]), song[:n]]).astype(np.uint8)
    heard[1, heard[0] == song[:n]] = 0  # where the front end did hear the tune, no second row
    query = song[100:220]
    two_rows = align(query, heard)
    assert two_rows.transpose == 0 and two_rows.song_start_s == pytest.approx(100 / CONTOUR_RATE, abs=0.2)
    assert 0.0 < two_rows.cost <= rerank.ALTERNATIVE_COST + 1e-6
    assert align(query, heard[:1]).cost > 2 * two_rows.cost  # the first row alone: lost in the other voice
    # A contour without a second row (indexes built before there was one) aligns as a 1-row one.
    one_row = align(query, song)
    assert align(query, np.stack([song, np.zeros_like(song)])) == one_row
    assert align(query, song[None]) == one_row and one_row.cost == 0.0


def test_a_steady_tempo_beats_a_fit_that_keeps_changing_speed(rng: np.random.Generator) -> None:
    phrase = np.repeat(rng.integers(20, 40, 30), rng.integers(3, 9, 30)).astype(np.uint8)
    steady = rerank.stretch(phrase, 1.25)  # the song plays the phrase 1.25 times as slowly
    # The same notes, every other one 0.6 times as long and the rest 1.6 times: what a loose
    # alignment can squeeze a wrong song into.
    runs = np.split(phrase, np.flatnonzero(np.diff(phrase.astype(int))) + 1)
    wobbly = np.concatenate([rerank.stretch(r, 0.6 if i % 2 else 1.6) for i, r in enumerate(runs)])
    context = tune(rng, 20)[0]
    found = {name: align(phrase, np.concatenate([context, song, context])) for name, song in
             (("steady", steady), ("wobbly", wobbly))}
    assert found["steady"].cost < 0.5 * found["wobbly"].cost
    assert found["steady"].tempo == pytest.approx(1.25, abs=0.05)


@pytest.mark.parametrize("tempo", [0.8, 1.25])
def test_a_hum_at_another_steady_tempo_aligns_almost_for_free(
        rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch, tempo: float) -> None:
    song, _ = tune(rng, 60)
    query = rerank.stretch(song[100:220], 1 / tempo)  # tempo: song seconds per query second
    stretched = align(query, song)
    assert stretched.song_start_s == pytest.approx(100 / CONTOUR_RATE, abs=0.2)
    assert stretched.tempo == pytest.approx(tempo, abs=0.05)
    monkeypatch.setattr(rerank, "TEMPO_SCALES", (1.0,))  # only the DTW steps to absorb the tempo
    assert stretched.cost < 0.5 * align(query, song).cost


def test_step_costs_are_a_truncated_square_with_cheap_octaves() -> None:
    costs = rerank.step_costs(3.0, 1 / 9)
    assert costs[:5] == pytest.approx([0, 1 / 9, 4 / 9, 1, 1])
    assert costs[12] == pytest.approx(1 / 9)  # an octave: like a semitone off
    assert costs[11] == pytest.approx(2 / 9) and costs[13] == pytest.approx(2 / 9)
    assert costs[10] == pytest.approx(1 / 9 + 4 / 9) and costs[16] == pytest.approx(1.0)
    assert np.all(costs[16:] == 1.0) and np.all(costs <= 1.0)


def test_unvoiced_empty_and_short_inputs_give_no_alignment(rng: np.random.Generator) -> None:
    song, _ = tune(rng, 40)
    query = song[50:150]
    assert align(query, song) is not None
    short = np.zeros(100, np.uint8)
    short[40 : 40 + rerank.MIN_VOICED_STEPS - 1] = 30
    for q in (None, np.zeros(0, np.uint8), np.zeros(200, np.uint8), short):
        assert not can_align(q)
        assert align(q, song) is None
    for s in (None, np.zeros(0, np.uint8), np.zeros(500, np.uint8), song[:20]):  # song[:20]: too little melody
        assert align(query, s) is None
    assert align(query, song, song_range_s=(1000.0, 1100.0)) is None  # range beyond the song's end


def test_fusion_lets_the_melody_overturn_a_close_knn_call() -> None:
    def aligned(cost: float) -> Alignment:
        return Alignment(cost=cost, transpose=0, song_start_s=0.0, song_end_s=1.0, query_start_s=0.0, tempo=1.0)

    knn = [0.80, 0.78, 0.60]
    fused = fuse(knn, [aligned(0.45), aligned(0.10), None])
    assert list(np.argsort(-fused)) == [1, 0, 2]
    assert fused[1] == pytest.approx((1 - rerank.DTW_WEIGHT) * 0.78 + rerank.DTW_WEIGHT * 0.90)
    # No alignment: as good as the worst-aligned candidate, not worse.
    assert fused[2] == pytest.approx((1 - rerank.DTW_WEIGHT) * 0.60 + rerank.DTW_WEIGHT * 0.55)
    assert list(np.argsort(-fuse([0.80, 0.70], [None, aligned(0.30)]))) == [0, 1]
    assert list(np.argsort(-fuse([0.70, 0.80], [None, None]))) == [1, 0]  # the kNN order stands
    # A clear kNN lead survives a slightly worse alignment.
    assert list(np.argsort(-fuse([0.95, 0.55], [aligned(0.20), aligned(0.15)]))) == [0, 1]
    # The weight is the alignment's share: all of it, none of it.
    assert list(np.argsort(-fuse([0.95, 0.55], [aligned(0.20), aligned(0.15)], dtw_weight=1.0))) == [1, 0]
    assert fuse([0.95, 0.55], [aligned(0.20), aligned(0.15)], dtw_weight=0.0) == pytest.approx([0.95, 0.55])


def test_rerank_hits_reorders_renumbers_and_refines_the_start(rng: np.random.Generator) -> None:
    songs = {sid: tune(rng, 60)[0] for sid in ("a", "b", "c")}
    query = hum_of(songs["b"][100:220], rng, transpose=2, tempo=1.1)
    empty = np.zeros(0, np.float32)
    docs = {sid: SongDoc(sid, f"/{sid}.wav", sid, 60.0, "", 0.0, 0, np.zeros((0, 4)), empty, empty, melody=c)
            for sid, c in songs.items()}
    knn = [Hit(1, "a", "a", "/a.wav", 0.81, 5.0, 15.0), Hit(2, "b", "b", "/b.wav", 0.80, 10.0, 20.0),
           Hit(3, "c", "c", "/c.wav", 0.79, 0.0, 10.0)]
    hits = rerank_hits(knn, docs, query, query_s=len(query) / CONTOUR_RATE)
    assert [(h.rank, h.song_id) for h in hits] == [(1, "b"), (2, "a"), (3, "c")]
    assert hits[0].score > hits[1].score > hits[2].score
    assert hits[0].start_s == pytest.approx((100 - 6 * 1.1) / CONTOUR_RATE, abs=0.5)  # was 10.0


def test_rerank_hits_aligns_candidates_in_threads_with_the_same_result(
        rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch) -> None:
    songs = {f"s{i}": tune(rng, 60)[0] for i in range(12)}
    query = hum_of(songs["s5"][100:220], rng, transpose=-3, tempo=0.9)
    empty = np.zeros(0, np.float32)
    docs = {sid: SongDoc(sid, f"/{sid}.wav", sid, 60.0, "", 0.0, 0, np.zeros((0, 4)), empty, empty, melody=c)
            for sid, c in songs.items()}
    knn = [Hit(i + 1, sid, sid, f"/{sid}.wav", 0.8 - 0.01 * i, 8.0, 18.0) for i, sid in enumerate(songs)]
    results = {}
    for threads in (1, 3):
        monkeypatch.setattr(rerank, "ALIGN_THREADS", threads)
        results[threads] = rerank_hits(knn, docs, query, query_s=len(query) / CONTOUR_RATE)
    assert results[3] == results[1]
    assert results[1][0].song_id == "s5"


def test_halves_round_to_even_as_numpy_does() -> None:
    values = [-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 3.5, 2.4999, 2.5001, -0.2, 7.0]
    assert [rerank._round_half_even(v) for v in values] == [int(np.round(v)) for v in values]


@pytest.fixture
def hummed_library(tmp_path: Path, rng: np.random.Generator) -> tuple[MusicFolder, dict[str, np.ndarray]]:
    """Three 12 s songs of known pitches, indexed with the toy melody embedder."""
    folder = MusicFolder(root=tmp_path / "music", songs={})
    pitches = {}
    for name in ("alpha.wav", "beta.wav", "gamma.wav"):
        pitches[name] = rng.integers(60, 76, size=24)
        folder.add(name, tones(pitches[name]))
    return folder, pitches


def test_search_with_rerank_finds_a_hum_in_another_key(tmp_path: Path, hummed_library) -> None:
    music, pitches = hummed_library
    embedder = ToyMelodyEmbedder()
    store = LocalStore(tmp_path / "index")
    index_folder(music.root, embedder=embedder, store=store)
    # Notes 6-15 of gamma, a whole tone higher and 10 % faster: the toy's pitch-class vectors
    # put another song first, the melody contour finds gamma and where the hum starts in it.
    gamma = song_id(music.path("gamma.wav"))
    query = tones(pitches["gamma.wav"][6:16] + 2, note_s=0.45)
    plain = search(query, embedder=embedder, store=store, k=3, rerank=False)
    assert plain[0].song_id != gamma
    hits = search(query, embedder=embedder, store=store, k=3)
    assert hits[0].song_id == gamma
    assert hits[0].start_s == pytest.approx(6 * 0.5, abs=0.2)
    assert sorted(h.song_id for h in hits) == sorted(h.song_id for h in plain)


def test_search_skips_rerank_when_the_query_has_no_melody(tmp_path: Path, hummed_library) -> None:
    music, _ = hummed_library
    embedder = ToyMelodyEmbedder()
    store = LocalStore(tmp_path / "index")
    index_folder(music.root, embedder=embedder, store=store)

    class Unvoiced(ToyMelodyEmbedder):
        def embed_query(self, audio: np.ndarray) -> QueryEmbedding:
            query = super().embed_query(audio)
            return query._replace(melody=np.zeros_like(query.melody))

    query = music.songs["beta.wav"][2 * SR : 6 * SR]
    assert search(query, embedder=Unvoiced(), store=store, k=3) == search(
        query, embedder=embedder, store=store, k=3, rerank=False
    )


def test_toy_contour_reads_the_pitches() -> None:
    contour = toy_contour(tones(np.array([60, 67, 72]), note_s=0.8))
    assert list(contour[2:8]) == [21] * 6  # MIDI 60 = PITCH_MIDI_LOW (40) + 21 - 1
    assert list(contour[12:18]) == [28] * 6 and list(contour[22:28]) == [33] * 6


def test_an_unbounded_range_searches_the_whole_song():
    rng = np.random.default_rng(7)
    song = np.repeat(rng.integers(20, 40, 80), 5).astype(np.uint8)
    query = song[200:320]
    assert align(query, song, song_range_s=(-np.inf, np.inf)) == align(query, song)


def test_warm_up_runs_the_alignment_kernels():
    """The app calls it while loading the model: it must take the kernels' real path (find an
    alignment), or the first search would still compile them."""
    found = rerank.warm_up()
    assert found is not None and found.cost == pytest.approx(0.0)
