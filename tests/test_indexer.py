"""The indexer: broken files are reported and skipped, everything else still gets indexed."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import indexer
from conftest import MusicFolder
from humsearch.errors import HumSearchError, IndexMismatchError
from humsearch.stores.base import IndexSpec
from humsearch.stores.local import LocalStore
from indexer import IndexReport, index_folder, song_id
from toy import ToyEmbedder


def test_broken_files_are_reported_and_the_rest_indexed(
    tmp_path: Path, embedder: ToyEmbedder, music: MusicFolder, rng
) -> None:
    corrupt = music.root / "corrupt.wav"
    corrupt.write_bytes(b"RIFF\xe8\x03\x00\x00WAVEfmt " + rng.bytes(200))  # WAV magic, garbage after
    (music.root / "notes.wav").write_text("this is a text file, not audio\n")
    (music.root / "readme.txt").write_text("not even considered: wrong extension\n")
    store = LocalStore(tmp_path / "index")

    calls: list[tuple[int, int, str]] = []
    report = index_folder(music.root, embedder=embedder, store=store, progress=lambda *a: calls.append(a))

    assert report.added == 3
    failed = dict(report.failed)
    assert set(failed) == {str(corrupt), str(music.root / "notes.wav")}
    assert all(reason.startswith("cannot decode (") for reason in failed.values())
    assert store.info().songs == 3
    assert report.audio_seconds == pytest.approx(3 * 8.0)
    assert calls[-1] == (5, 5, "")
    assert [c[0] for c in calls] == [0, 1, 2, 3, 4, 5]
    audio_files = [corrupt, music.root / "notes.wav", *map(music.path, music.songs)]
    assert {c[2] for c in calls[:-1]} == {str(p.resolve()) for p in audio_files}


def test_a_file_that_breaks_later_leaves_the_index(tmp_path: Path, embedder: ToyEmbedder, music: MusicFolder) -> None:
    store = LocalStore(tmp_path / "index")
    index_folder(music.root, embedder=embedder, store=store)
    music.path("alpha.wav").write_bytes(b"RIFF....WAVEnope")
    report = index_folder(music.root, embedder=embedder, store=store)
    assert [p for p, _ in report.failed] == [str(music.path("alpha.wav"))]
    assert report.removed == 1
    assert song_id(music.path("alpha.wav")) not in store.file_states()


def test_other_roots_are_left_alone(tmp_path: Path, embedder: ToyEmbedder, music: MusicFolder) -> None:
    store = LocalStore(tmp_path / "index")
    index_folder([music.root / "sub", music.root / "alpha.wav"], embedder=embedder, store=store)
    report = index_folder(music.root / "sub", embedder=embedder, store=store)
    assert (report.unchanged, report.removed) == (1, 0)  # alpha.wav is outside this root: kept
    assert store.info().songs == 2


def test_missing_root_is_an_error(tmp_path: Path, embedder: ToyEmbedder) -> None:
    with pytest.raises(HumSearchError, match="not found"):
        index_folder(tmp_path / "nowhere", embedder=embedder, store=LocalStore(tmp_path / "index"))


def test_song_id_is_the_same_for_any_spelling_of_a_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "a").mkdir()
    monkeypatch.chdir(tmp_path / "a")
    assert song_id("../a/x.wav") == song_id(tmp_path / "a" / "x.wav") != song_id(tmp_path / "a" / "y.wav")


def test_report_as_dict() -> None:
    report = IndexReport(added=2, failed=[("/m/x.wav", "bad")], seconds=2.0, audio_seconds=10.0)
    d = report.to_dict()
    assert d["failed"] == [{"path": "/m/x.wav", "reason": "bad"}]
    assert d["realtime_factor"] == 5.0
    assert IndexReport().realtime_factor == 0.0


def test_unchanged_files_are_not_read_again(
    tmp_path: Path, embedder: ToyEmbedder, music: MusicFolder, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = LocalStore(tmp_path / "index")
    index_folder(music.root, embedder=embedder, store=store)
    hashed: list[Path] = []
    original = indexer.file_sha256
    monkeypatch.setattr(indexer, "file_sha256", lambda p: hashed.append(Path(p)) or original(p))
    monkeypatch.setattr(indexer, "embed_file", lambda *a, **k: pytest.fail("nothing changed: nothing to embed"))

    report = index_folder(music.root, embedder=embedder, store=store)
    assert (report.unchanged, hashed) == (3, [])  # size + mtime match: not even hashed

    os.utime(music.path("alpha.wav"), (1_000_000, 1_000_000))
    report = index_folder(music.root, embedder=embedder, store=store)
    assert (report.unchanged, hashed) == (3, [music.path("alpha.wav").resolve()])  # hashed, same content
    assert store.file_states()[song_id(music.path("alpha.wav"))].mtime == 1_000_000


def test_overlapping_roots_and_symlinks_index_a_file_once(
    tmp_path: Path, embedder: ToyEmbedder, music: MusicFolder
) -> None:
    (music.root / "link.wav").symlink_to(music.path("alpha.wav"))
    store = LocalStore(tmp_path / "index")
    report = index_folder([music.root, music.root / "sub"], embedder=embedder, store=store)
    assert (report.added, store.info().songs) == (3, 3)


def test_the_index_records_the_song_windows(tmp_path: Path, music: MusicFolder) -> None:
    store = LocalStore(tmp_path / "index")
    embedder = ToyEmbedder()
    embedder.hop_s = 0.5  # as load_embedder(hop_s=...) sets it
    index_folder(music.root, embedder=embedder, store=store)
    assert store.spec() == IndexSpec("toy", "1", embedder.dims, window_s=2.0, hop_s=0.5)
    assert store.info().segments == 3 * 13  # 8 s songs, windows every 0.5 s

    with pytest.raises(IndexMismatchError, match=r"hop 0.5 s but window 2 s, hop 1 s is in use"):
        index_folder(music.root, embedder=ToyEmbedder(), store=store)
