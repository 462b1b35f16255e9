"""Search: aggregation across query windows, tie-breaks, offset shift, refusals."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from conftest import MusicFolder
from humsearch.embedders.base import QueryEmbedding
from humsearch.errors import IndexMismatchError, IndexNotFoundError, SilentAudioError
from humsearch.stores.base import FileState, IndexInfo, IndexSpec, SegmentHit, SongDoc, Store
from humsearch.stores.local import LocalStore
from indexer import index_folder, song_id
from search import Hit, aggregate, search
from toy import SR, ToyEmbedder


SPEC = IndexSpec("toy", "1", 48)


def seg(song: str, score: float, start: float = 0.0) -> SegmentHit:
    return SegmentHit(song_id=song, score=score, start_s=start, end_s=start + 2.0)


class CannedStore(Store):
    """Answers knn with fixed hits; records what it was asked."""

    backend = "canned"
    index = "canned"

    def __init__(self, hits: list[list[SegmentHit]], spec: IndexSpec) -> None:
        self.hits, self._spec, self.asked_k = hits, spec, None

    def spec(self) -> IndexSpec | None:
        return self._spec

    def knn(self, vectors: np.ndarray, *, k: int) -> list[list[SegmentHit]]:
        assert len(vectors) == len(self.hits)
        self.asked_k = k
        return self.hits

    def get_songs(self, ids: Iterable[str]) -> dict[str, SongDoc]:
        empty = np.zeros(0, np.float32)
        return {
            i: SongDoc(i, f"/m/{i}.wav", i.upper(), 60.0, "", 0.0, 0, np.zeros((0, 48)), empty, empty)
            for i in ids
            if i != "deleted"
        }

    def info(self) -> IndexInfo:
        raise NotImplementedError

    def open_for_write(self, spec: IndexSpec, *, rebuild: bool = False) -> None:
        raise NotImplementedError

    def file_states(self) -> dict[str, FileState]:
        raise NotImplementedError

    def upsert(self, docs: Iterable[SongDoc]) -> int:
        raise NotImplementedError

    def update_states(self, states: Mapping[str, FileState]) -> int:
        raise NotImplementedError

    def delete(self, ids: Iterable[str]) -> int:
        raise NotImplementedError

    def commit(self) -> None:
        raise NotImplementedError


class FixedQueryEmbedder(ToyEmbedder):
    """Returns as many query vectors as CannedStore has answers, at the given offsets."""

    def __init__(self, offsets: list[float]) -> None:
        super().__init__()
        self.offsets = offsets

    def embed_query(self, audio: np.ndarray) -> QueryEmbedding:
        return QueryEmbedding(np.ones((len(self.offsets), self.dims), np.float32), np.array(self.offsets))


def loud(seconds: float = 4.0) -> np.ndarray:
    return (0.3 * np.sin(np.arange(int(seconds * SR)) * 0.2)).astype(np.float32)


def test_best_segment_wins_and_mean_breaks_ties() -> None:
    hits = [
        [seg("a", 0.90, 10), seg("b", 0.80), seg("c", 0.50)],
        [seg("b", 0.90, 20), seg("a", 0.30), seg("c", 0.95, 4)],
    ]
    ranked = aggregate(hits, np.array([0.0, 1.0]))
    assert [(h.song_id, offset, mean) for h, offset, mean in ranked] == [
        ("c", 1.0, pytest.approx(0.725)),
        ("b", 1.0, pytest.approx(0.85)),  # ties with a at 0.90, wins on the mean
        ("a", 0.0, pytest.approx(0.60)),
    ]
    assert ranked[0][0].start_s == 4


def test_hits_shift_back_by_query_offset_and_clamp_at_zero() -> None:
    answers = [[seg("a", 0.7, 30.0), seg("b", 0.6, 1.0)], [seg("a", 0.9, 34.0), seg("b", 0.8, 2.0)]]
    store = CannedStore(answers, SPEC)
    embedder = FixedQueryEmbedder([0.0, 3.0])
    hits = search(loud(), embedder=embedder, store=store, k=5)
    assert hits == [
        Hit(rank=1, song_id="a", title="A", path="/m/a.wav", score=0.9, start_s=31.0, end_s=33.0),
        Hit(rank=2, song_id="b", title="B", path="/m/b.wav", score=0.8, start_s=0.0, end_s=1.0),
    ]
    assert store.asked_k == 40  # max(k, 20) * 2 candidates per query vector
    assert hits[0].percent == pytest.approx(90.0)
    assert hits[0].to_dict()["percent"] == 90.0


def test_k_limits_results_and_vanished_songs_are_skipped() -> None:
    store = CannedStore([[seg("deleted", 0.99), seg("a", 0.9), seg("b", 0.8), seg("c", 0.7)]], SPEC)
    hits = search(loud(), embedder=FixedQueryEmbedder([0.0]), store=store, k=2)
    assert [(h.rank, h.song_id) for h in hits] == [(1, "a")]  # top 2 were "deleted" and a


def test_percent_is_clipped() -> None:
    assert Hit(1, "a", "A", "/a", -0.2, 0, 1).percent == 0.0
    assert Hit(1, "a", "A", "/a", 1.0000001, 0, 1).percent == 100.0


def test_silent_query_is_refused_before_embedding() -> None:
    class Exploding(FixedQueryEmbedder):
        def embed_query(self, audio: np.ndarray) -> QueryEmbedding:
            raise AssertionError("a silent query must not be embedded")

    with pytest.raises(SilentAudioError):
        search(np.zeros(5 * SR, np.float32), embedder=Exploding([0.0]), store=CannedStore([], SPEC))


def test_wrong_or_missing_index_is_refused() -> None:
    with pytest.raises(IndexMismatchError):
        search(loud(), embedder=FixedQueryEmbedder([0.0]), store=CannedStore([[]], IndexSpec("toy", "2", 48)))
    with pytest.raises(IndexNotFoundError):
        search(loud(), embedder=FixedQueryEmbedder([0.0]), store=CannedStore([[]], None))  # type: ignore[arg-type]


def test_index_cut_with_other_windows_is_refused() -> None:
    embedder = FixedQueryEmbedder([0.0])  # songs cut into 2 s windows every 1 s
    for window_s, hop_s, named in ((3.0, 1.0, "window 3 s, hop 1 s"), (2.0, 0.5, "window 2 s, hop 0.5 s")):
        store = CannedStore([[]], IndexSpec("toy", "1", 48, window_s=window_s, hop_s=hop_s))
        with pytest.raises(IndexMismatchError) as refused:
            search(loud(), embedder=embedder, store=store)
        message = str(refused.value)
        assert f"built with {named} but window 2 s, hop 1 s is in use" in message
        assert "humsearch index --rebuild" in message


def test_index_with_the_same_or_unrecorded_windows_is_searched() -> None:
    embedder = FixedQueryEmbedder([0.0])
    for spec in (IndexSpec.for_embedder(embedder), SPEC):  # SPEC: written before windows were recorded
        assert search(loud(), embedder=embedder, store=CannedStore([[seg("a", 0.9)]], spec))[0].song_id == "a"


def test_noisy_excerpt_finds_its_song_and_moment(
    tmp_path: Path, embedder: ToyEmbedder, music: MusicFolder, rng: np.random.Generator
) -> None:
    store = LocalStore(tmp_path / "index")
    index_folder(music.root, embedder=embedder, store=store)
    song = music.songs["Gamma.WAV"]
    query = song[3 * SR : 7 * SR] + rng.normal(0, 0.03, 4 * SR).astype(np.float32)  # ~15 dB SNR
    hits = search(query, embedder=embedder, store=store, k=3)
    assert [h.rank for h in hits] == [1, 2, 3]
    assert hits[0].song_id == song_id(music.path("Gamma.WAV"))
    assert hits[0].title == "Gamma"
    assert hits[0].start_s == pytest.approx(3.0)
    assert hits[0].score > hits[1].score + 0.1


class MelodyStore(CannedStore):
    """CannedStore whose songs carry melody contours."""

    def __init__(self, hits: list[list[SegmentHit]], spec: IndexSpec, melodies: dict[str, np.ndarray]) -> None:
        super().__init__(hits, spec)
        self.melodies = melodies

    def get_songs(self, ids: Iterable[str]) -> dict[str, SongDoc]:
        return {i: replace(doc, melody=self.melodies[i]) for i, doc in super().get_songs(ids).items()}


def test_melody_stage_reorders_only_its_candidates() -> None:
    """The song the query's tune comes from is fifth in the kNN stage: re-ranking 3 candidates
    cannot reach it (the best 3 come back), re-ranking 5 puts it first."""
    rng = np.random.default_rng(3)
    melodies = {f"s{i}": np.repeat(rng.integers(20, 40, 60), 5).astype(np.uint8) for i in range(5)}
    hits = [[seg(f"s{i}", 0.9 - 0.01 * i) for i in range(5)]]

    class TunedQuery(FixedQueryEmbedder):
        def embed_query(self, audio: np.ndarray) -> QueryEmbedding:
            return super().embed_query(audio)._replace(melody=melodies["s4"][:150])

    store = MelodyStore(hits, SPEC, melodies)
    embedder = TunedQuery([0.0])
    few = search(loud(), embedder=embedder, store=store, k=3, candidates=3)
    assert sorted(h.song_id for h in few) == ["s0", "s1", "s2"]
    assert search(loud(), embedder=embedder, store=store, k=3, candidates=5)[0].song_id == "s4"
