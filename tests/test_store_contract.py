"""One contract, two backends: the local store and a real Elasticsearch behave the same."""

from __future__ import annotations

import json
import os
import shutil
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pytest

from conftest import MusicFolder
from humsearch.errors import IndexMismatchError, IndexNotFoundError
from humsearch.stores.base import IndexSpec, SongDoc, Store
from humsearch.stores.elastic import MAPPINGS_DIR, ElasticStore, connect
from humsearch.stores.local import CURRENT_FILE, SONGS_FILE, LocalStore
from indexer import index_folder, song_id
from search import search
from toy import SR, ToyEmbedder, ToyMelodyEmbedder, melody

SPEC_KEYS_BEFORE_WINDOWS = ("embedder", "model_version", "dims")  # what an index recorded before window_s, hop_s


@dataclass
class Backend:
    """A store plus the backend-specific way to see its physical indexes."""

    store: Store
    live_physical: Callable[[], list[str]]  # what the alias / CURRENT points at
    physical_exists: Callable[[str], bool]
    forget_windows: Callable[[], None]  # make the live index look like one written before window/hop were recorded
    reopen: Callable[[], Store]  # a new store on the same index, as another process opens it


def _local(tmp_path: Path) -> Iterator[Backend]:
    store = LocalStore(tmp_path / "indexes" / "songs")

    def live() -> list[str]:
        return [(store.folder / CURRENT_FILE).read_text().strip()]

    def forget_windows() -> None:
        # A new generation, as another process would commit it: readers reload on the name change.
        [current] = live()
        old = store.folder / f"{current}-old"
        shutil.copytree(store.folder / current, old)
        meta = json.loads((old / SONGS_FILE).read_text())
        meta["spec"] = {key: meta["spec"][key] for key in SPEC_KEYS_BEFORE_WINDOWS}
        (old / SONGS_FILE).write_text(json.dumps(meta))
        (store.folder / CURRENT_FILE).write_text(old.name + "\n")

    yield Backend(store, live, lambda name: (store.folder / name).is_dir(), forget_windows,
                  lambda: LocalStore(store.folder))


def _elastic(tmp_path: Path, url: str) -> Iterator[Backend]:
    # The toy embedder gets the real melody mapping (its dims are filled in from the spec).
    mappings = tmp_path / "mappings"
    mappings.mkdir()
    shutil.copy(MAPPINGS_DIR / "melody.json", mappings / "toy.json")
    client = connect(url)
    name = f"humsearch-test-{uuid.uuid4().hex[:12]}"
    store = ElasticStore(client, name, url=url, mappings_dir=mappings)

    def forget_windows() -> None:
        # Updating a mapping's _meta replaces it as a whole.
        for physical, mapping in client.indices.get_mapping(index=name).items():
            meta = mapping["mappings"]["_meta"]
            client.indices.put_mapping(index=physical, meta={key: meta[key] for key in SPEC_KEYS_BEFORE_WINDOWS})

    try:
        yield Backend(
            store,
            lambda: sorted(client.indices.get_alias(name=name)),
            lambda physical: bool(client.indices.exists(index=physical)),
            forget_windows,
            lambda: ElasticStore(client, name, url=url, mappings_dir=mappings),
        )
    finally:
        for physical in client.indices.get(index=f"{name}*"):
            client.indices.delete(index=physical)
        client.close()


@pytest.fixture(params=["local", pytest.param("elasticsearch", marks=pytest.mark.elasticsearch)])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    if request.param == "local":
        yield from _local(tmp_path)
    else:
        yield from _elastic(tmp_path, request.getfixturevalue("es_url"))


def excerpt(audio: np.ndarray, start_s: float, seconds: float) -> np.ndarray:
    return audio[int(start_s * SR) : int((start_s + seconds) * SR)]


def test_missing_index_reports_nothing_and_refuses_search(backend: Backend, embedder: ToyEmbedder) -> None:
    store = backend.store
    info = store.info()
    assert (info.spec, info.songs, info.segments) == (None, 0, 0)
    assert store.spec() is None
    assert store.get_songs(["nope"]) == {}
    with pytest.raises(IndexNotFoundError):
        store.knn(np.ones((1, embedder.dims), np.float32), k=3)


def test_index_then_knn_finds_song_and_segment(backend: Backend, embedder: ToyEmbedder, music: MusicFolder) -> None:
    store = backend.store
    report = index_folder(music.root, embedder=embedder, store=store)
    assert (report.added, report.failed) == (3, [])

    info = store.info()
    assert info.spec == IndexSpec("toy", "1", embedder.dims, window_s=2.0, hop_s=1.0)
    assert info.songs == 3
    assert info.segments == 3 * 7  # 8 s songs, 2 s windows, 1 s hop

    beta = music.path("sub/beta.flac")
    vectors = embedder.embed_song(excerpt(music.songs["sub/beta.flac"], 3.0, 2.0)).vectors
    [hits] = store.knn(vectors, k=3)
    assert [h.song_id for h in hits][0] == song_id(beta)
    assert len({h.song_id for h in hits}) == 3  # one hit per song
    assert (hits[0].start_s, hits[0].end_s) == (3.0, 5.0)
    assert hits[0].score > 0.99
    assert hits[1].score < hits[0].score - 0.1

    songs = store.get_songs([song_id(beta), "missing"])
    assert list(songs) == [song_id(beta)]
    assert songs[song_id(beta)].title == "beta"
    assert songs[song_id(beta)].path == str(beta.resolve())
    assert songs[song_id(beta)].duration_s == pytest.approx(8.0)


def test_incremental_reindex(backend: Backend, embedder: ToyEmbedder, music: MusicFolder, rng) -> None:
    store = backend.store
    music.add("delta.wav", melody(rng))
    first = index_folder(music.root, embedder=embedder, store=store)
    assert first.added == 4

    music.add("alpha.wav", melody(rng))  # new content
    touched = music.path("sub/beta.flac")  # same content, new mtime
    os.utime(touched, (time.time() + 10, time.time() + 10))
    music.path("Gamma.WAV").unlink()  # removed
    music.add("new/epsilon.ogg", melody(rng))  # added; delta.wav stays as it was
    second = index_folder(music.root, embedder=embedder, store=store)
    assert (second.added, second.updated, second.unchanged, second.removed, second.failed) == (1, 1, 2, 1, [])

    states = store.file_states()
    present = ("alpha.wav", "sub/beta.flac", "delta.wav", "new/epsilon.ogg")
    assert set(states) == {song_id(music.path(n)) for n in present}
    assert states[song_id(touched)].mtime == touched.stat().st_mtime
    assert store.info().songs == 4

    vectors = embedder.embed_song(excerpt(music.songs["alpha.wav"], 5.0, 2.0)).vectors
    [hits] = store.knn(vectors, k=2)
    assert hits[0].song_id == song_id(music.path("alpha.wav"))
    assert hits[0].start_s == 5.0

    third = index_folder(music.root, embedder=embedder, store=store)
    assert (third.added, third.updated, third.unchanged, third.removed) == (0, 0, 4, 0)


def test_rebuild_swaps_in_a_new_index(backend: Backend, embedder: ToyEmbedder, music: MusicFolder) -> None:
    store = backend.store
    index_folder(music.root, embedder=embedder, store=store)
    [old] = backend.live_physical()

    music.path("alpha.wav").unlink()
    report = index_folder(music.root, embedder=embedder, store=store, rebuild=True)
    assert (report.added, report.removed) == (2, 0)  # a rebuild starts empty: nothing to remove

    [new] = backend.live_physical()
    assert new != old
    assert not backend.physical_exists(old)
    assert backend.physical_exists(new)
    assert store.info().songs == 2
    vectors = embedder.embed_song(excerpt(music.songs["Gamma.WAV"], 6.0, 2.0)).vectors
    [hits] = store.knn(vectors, k=1)
    assert (hits[0].song_id, hits[0].start_s) == (song_id(music.path("Gamma.WAV")), 6.0)


def test_other_embedder_is_refused_until_rebuild(backend: Backend, embedder: ToyEmbedder, music: MusicFolder) -> None:
    store = backend.store
    index_folder(music.root, embedder=embedder, store=store)
    other = ToyEmbedder(version="2")
    with pytest.raises(IndexMismatchError, match="rebuild"):
        index_folder(music.root, embedder=other, store=store)
    assert store.spec() == IndexSpec("toy", "1", embedder.dims, window_s=2.0, hop_s=1.0)  # untouched

    index_folder(music.root, embedder=other, store=store, rebuild=True)
    assert store.spec() == IndexSpec("toy", "2", other.dims, window_s=2.0, hop_s=1.0)


class WideToyEmbedder(ToyEmbedder):
    """The toy embedder with 3 s windows every 1.5 s (same name, version and dims)."""

    window_s = 3.0
    hop_s = 1.5


def test_other_windows_are_refused_until_rebuild(backend: Backend, embedder: ToyEmbedder, music: MusicFolder) -> None:
    store = backend.store
    index_folder(music.root, embedder=embedder, store=store)
    wide = WideToyEmbedder()
    refusal = r"window 2 s, hop 1 s but window 3 s, hop 1.5 s .*humsearch index --rebuild"
    with pytest.raises(IndexMismatchError, match=refusal):
        index_folder(music.root, embedder=wide, store=store)
    with pytest.raises(IndexMismatchError, match=refusal):
        search(music.songs["alpha.wav"][: 4 * SR], embedder=wide, store=store, k=3)
    assert store.spec() == IndexSpec.for_embedder(embedder)  # untouched
    assert store.info().segments == 3 * 7

    report = index_folder(music.root, embedder=wide, store=store, rebuild=True)
    assert report.added == 3
    assert store.spec() == IndexSpec("toy", "1", wide.dims, window_s=3.0, hop_s=1.5)
    assert store.info().segments == 3 * 4  # 8 s songs: windows start at 0, 1.5, 3 and 4.5 s
    hits = search(music.songs["alpha.wav"][: 4 * SR], embedder=wide, store=store, k=1)
    assert hits[0].song_id == song_id(music.path("alpha.wav"))


def test_index_without_recorded_windows_still_opens(
    backend: Backend, embedder: ToyEmbedder, music: MusicFolder, rng
) -> None:
    store = backend.store
    index_folder(music.root, embedder=embedder, store=store)
    backend.forget_windows()
    unknown = IndexSpec("toy", "1", embedder.dims)
    assert store.spec() == unknown and (unknown.window_s, unknown.hop_s) == (None, None)

    hits = search(music.songs["Gamma.WAV"][2 * SR : 6 * SR], embedder=embedder, store=store, k=1)
    assert hits[0].song_id == song_id(music.path("Gamma.WAV"))
    music.add("delta.wav", melody(rng))
    report = index_folder(music.root, embedder=WideToyEmbedder(), store=store)  # unknown: any windows accepted
    assert (report.added, report.unchanged) == (1, 3)
    assert store.spec() == unknown  # still unknown: the older songs' windows were never recorded

    index_folder(music.root, embedder=embedder, store=store, rebuild=True)
    assert store.spec() == IndexSpec.for_embedder(embedder)


def test_melody_is_stored_and_returned(backend: Backend, embedder: ToyEmbedder, rng) -> None:
    store = backend.store
    spec = IndexSpec.for_embedder(embedder)

    def doc(sid: str, contour: np.ndarray | None) -> SongDoc:
        embedded = embedder.embed_song(melody(rng, notes=6))
        vectors, starts = embedded.vectors, embedded.starts_s
        return SongDoc(
            id=sid, path=f"/music/{sid}.wav", title=sid, duration_s=3.0, sha256="0" * 64, mtime=1.5, size=10,
            vectors=vectors, starts_s=starts, ends_s=starts + 2.0, melody=contour,
        )

    contour = np.array([[0, -3, 5, 127, -128], [1, 0, 0, 2, 3]], np.int8)  # rows and dtype come back
    store.open_for_write(spec)
    assert store.upsert(doc(s, c) for s, c in (("with", contour), ("without", None))) == 2
    store.commit()
    for reader in (store, backend.reopen()):  # what this store holds, and what it wrote
        songs = reader.get_songs(["with", "without"])
        np.testing.assert_array_equal(songs["with"].melody, contour)
        assert songs["with"].melody.dtype == np.int8
        assert songs["without"].melody is None

    store.open_for_write(spec)
    assert store.delete(["with", "never-indexed"]) == 1
    store.commit()
    assert set(store.get_songs(["with", "without"])) == {"without"}


def test_indexed_melody_contours_come_back(backend: Backend, music: MusicFolder) -> None:
    embedder = ToyMelodyEmbedder()
    index_folder(music.root, embedder=embedder, store=backend.store)
    songs = backend.store.get_songs(song_id(music.path(name)) for name in music.songs)
    assert len(songs) == 3
    for name, audio in music.songs.items():
        stored = songs[song_id(music.path(name))].melody
        assert stored is not None and stored.dtype == np.uint8
        np.testing.assert_array_equal(stored, embedder.embed_song(audio).melody)


@pytest.mark.elasticsearch
def test_elasticsearch_keeps_vectors_out_of_the_stored_source(tmp_path: Path, es_url: str, embedder: ToyEmbedder,
                                                              music: MusicFolder) -> None:
    """Vectors are indexed for kNN but not kept in _source: a search's fetch phase would parse
    them all for every hit."""
    backend = next(iter_backend := _elastic(tmp_path, es_url))
    try:
        index_folder(music.root, embedder=embedder, store=backend.store)
        client = backend.store.client
        beta = song_id(music.path("sub/beta.flac"))
        segments = client.get(index=backend.store.index, id=beta)["_source"]["segments"]
        assert len(segments) == 7 and all(set(s) == {"start_s", "end_s"} for s in segments)
        vectors = embedder.embed_song(excerpt(music.songs["sub/beta.flac"], 3.0, 2.0)).vectors
        assert backend.store.knn(vectors, k=1)[0][0].song_id == beta
    finally:
        iter_backend.close()
