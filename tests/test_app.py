"""The Streamlit app, driven with streamlit.testing: upload, results, reindex, errors, first start.

The app runs in this process, so the toy embedder of tests/toy.py stands in for the model
(monkeypatched into humsearch.embedders.load_embedder) and a temporary data folder holds the index.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import streamlit as st
from streamlit.testing.v1 import AppTest

from humsearch import embedders
from humsearch.config import Config
from humsearch.demo import catalog
from humsearch.demo.notation import parse_tunes
from humsearch.errors import ModelNotFoundError
from humsearch.stores import open_store
from indexer import index_folder
from toy import SR, ToyEmbedder

APP = str(Path(__file__).resolve().parents[1] / "streamlit_app.py")
TIMEOUT_S = 60


@pytest.fixture
def app_env(tmp_path, monkeypatch):
    """A private data folder, the toy embedder, and no caches left over from other tests."""
    monkeypatch.setenv("HUMSEARCH_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("HUMSEARCH_EMBEDDER", "toy")
    monkeypatch.delenv("HUMSEARCH_MUSIC_DIRS", raising=False)
    monkeypatch.delenv("HUMSEARCH_BACKEND", raising=False)
    monkeypatch.setattr(embedders, "load_embedder", lambda name, **kw: ToyEmbedder())
    st.cache_resource.clear()
    yield tmp_path
    st.cache_resource.clear()


def wav_bytes(audio: np.ndarray, sr: int = SR) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, audio, sr, format="WAV")
    return buf.getvalue()


def run_app() -> AppTest:
    return rerun(AppTest.from_file(APP, default_timeout=TIMEOUT_S))


def rerun(at: AppTest) -> AppTest:
    """Run the script (again, after an interaction); it must not crash."""
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def result_titles(at: AppTest) -> list[str]:
    """Titles of the result cards, in rank order (a card's title line also holds the time range)."""
    return [m.value.split("**")[1] for m in at.markdown if m.value.startswith("**") and ":gray[" in m.value]


def test_upload_shows_ranked_results_with_playback_at_the_match(app_env, music, monkeypatch, rng):
    monkeypatch.setenv("HUMSEARCH_MUSIC_DIRS", str(music.root))
    config = Config.from_env()
    index_folder(music.root, embedder=ToyEmbedder(), store=open_store(config))

    song = music.songs["sub/beta.flac"]
    excerpt = song[3 * SR : 7 * SR] + 0.01 * rng.standard_normal(4 * SR).astype(np.float32)
    at = run_app()
    at.file_uploader[0].upload("hum.wav", wav_bytes(excerpt), "audio/wav")
    rerun(at)

    assert not at.error, [e.value for e in at.error]
    assert at.subheader[0].value == "Best matches"
    titles = result_titles(at)
    assert titles[0] == "beta" and sorted(titles) == ["Gamma", "alpha", "beta"]
    first = next(m.value for m in at.markdown if m.value.startswith("**beta**"))
    assert "0:03–0:05" in first and "beta.flac" in first  # the matched range, as m:ss–m:ss (humsearch.display)
    scores = [m.value for m in at.markdown if m.value.startswith("#### ") and m.value.endswith("%")]
    assert len(scores) == 3 and float(scores[0][5:-1]) > float(scores[1][5:-1])
    players = at.get("audio")
    assert len(players) == 3
    assert players[0].proto.start_time == 3  # plays beta from the matched moment


def test_recording_is_searched_too(app_env, music, monkeypatch):
    monkeypatch.setenv("HUMSEARCH_MUSIC_DIRS", str(music.root))
    index_folder(music.root, embedder=ToyEmbedder(), store=open_store(Config.from_env()))
    at = run_app()
    at.audio_input[0].upload("recording.wav", wav_bytes(music.songs["alpha.wav"][: 4 * SR]))
    rerun(at)
    assert result_titles(at)[0] == "alpha"


def test_silent_query_says_there_is_no_sound(app_env, music, monkeypatch):
    monkeypatch.setenv("HUMSEARCH_MUSIC_DIRS", str(music.root))
    index_folder(music.root, embedder=ToyEmbedder(), store=open_store(Config.from_env()))
    at = run_app()
    at.file_uploader[0].upload("silence.wav", wav_bytes(np.zeros(4 * SR, np.float32)), "audio/wav")
    rerun(at)
    assert len(at.error) == 1 and at.error[0].value.startswith("No sound")
    assert not result_titles(at)


def test_reindex_panel_reports_what_it_did(app_env, music, monkeypatch):
    monkeypatch.setenv("HUMSEARCH_MUSIC_DIRS", str(music.root))
    (music.root / "broken [copy] *1*.wav").write_text("not audio")
    at = run_app()
    assert at.sidebar.metric[0].value == "0"  # empty index; music configured, so no demo catalog
    assert at.text_input[0].value == str(music.root)

    at.button[0].click()
    rerun(at)
    assert "Indexed 4 files" in at.warning[0].value  # a warning: one file failed
    metrics = {m.label: m.value for m in at.main.metric}
    assert metrics == {"Added": "3", "Updated": "0", "Unchanged": "0", "Removed": "0", "Failed": "1"}
    # The failed file is listed with its reason, its name shown literally (not as markdown).
    failure = next(m.value for m in at.markdown if "broken" in m.value)
    assert r"broken \[copy\] \*1\*.wav" in failure and "cannot decode" in failure
    assert at.sidebar.metric[0].value == "3"

    # Again with a song removed and from scratch: the summary follows.
    (music.root / "alpha.wav").unlink()
    at.checkbox[0].check()
    at.button[0].click()
    rerun(at)
    metrics = {m.label: m.value for m in at.main.metric}
    assert metrics["Added"] == "2" and metrics["Removed"] == "0"  # a rebuild starts empty
    assert at.sidebar.metric[0].value == "2"


def test_reindex_of_a_missing_folder_is_an_error_message(app_env, music, monkeypatch):
    monkeypatch.setenv("HUMSEARCH_MUSIC_DIRS", str(music.root))
    at = run_app()
    at.text_input[0].set_value(str(music.root / "nope"))
    at.button[0].click()
    rerun(at)
    assert "nope" in at.error[0].value


def test_first_start_builds_and_indexes_the_demo_catalog(app_env, monkeypatch):
    two_tunes = parse_tunes(
        """
title: Scale Up
composer: test
key: C major
meter: 4/4
tempo: 150
lead: Flute
form: A
A: | C5q D5q E5q F5q | G5q A5q B5q C6q | C6q B5q A5q G5q | F5q E5q D5q C5q |

title: Arpeggio
composer: test
key: G major
meter: 3/4
tempo: 150
lead: Oboe
form: A
A: | G4q B4q D5q | G5h. | D5q B4q G4q | D4h. |
"""
    )
    monkeypatch.setattr(catalog, "load_tunes", lambda: two_tunes)
    at = run_app()
    demo = app_env / "data" / "demo-catalog"
    assert sorted(p.name for p in demo.iterdir()) == ["Arpeggio.wav", "Scale Up.wav"]
    assert at.sidebar.metric[0].value == "2"
    assert at.text_input[0].value == str(demo)  # the reindex panel points at the demo by default
    assert "Indexed 2 files" in at.success[0].value


def test_demo_catalog_of_an_earlier_model_is_indexed_again(app_env, music, monkeypatch):
    # The app was updated: the demo index it built holds the old model's vectors.
    config = Config.from_env()
    demo = config.demo_catalog_dir
    demo.mkdir(parents=True)
    (demo / "alpha.wav").write_bytes((music.root / "alpha.wav").read_bytes())
    index_folder(demo, embedder=ToyEmbedder(version="1"), store=open_store(config))
    monkeypatch.setattr(embedders, "load_embedder", lambda name, **kw: ToyEmbedder(version="2"))
    at = run_app()
    assert not at.sidebar.warning
    assert open_store(config).spec().model_version == "2"
    at.file_uploader[0].upload("hum.wav", wav_bytes(music.songs["alpha.wav"][: 4 * SR]), "audio/wav")
    rerun(at)
    assert result_titles(at) == ["alpha"]


def test_index_of_own_music_is_not_rebuilt_unasked(app_env, music, monkeypatch):
    # Not configured as music folders, but the user indexed them: their rebuild is theirs to start.
    config = Config.from_env()
    index_folder(music.root, embedder=ToyEmbedder(version="1"), store=open_store(config))
    monkeypatch.setattr(embedders, "load_embedder", lambda name, **kw: ToyEmbedder(version="2"))
    at = run_app()
    assert "rebuild" in at.sidebar.warning[0].value
    assert open_store(config).spec().model_version == "1"


def test_missing_model_is_explained(app_env, monkeypatch):
    def missing(name, **kw):
        raise ModelNotFoundError("melody model checkpoint not found: /nowhere/melody.pt")

    monkeypatch.setattr(embedders, "load_embedder", missing)
    at = run_app()
    assert "/nowhere/melody.pt" in at.error[0].value
    assert at.button[0].disabled  # nothing to index with


def test_unreachable_elasticsearch_names_the_url(app_env, monkeypatch):
    monkeypatch.setenv("HUMSEARCH_BACKEND", "elasticsearch")
    monkeypatch.setenv("HUMSEARCH_ES_URL", "http://127.0.0.1:9")  # discard port: nothing listens
    at = run_app()
    errors = [e.value for e in at.error]
    assert errors and all("http://127.0.0.1:9" in e for e in errors)


def test_rerank_setting_reaches_the_search(app_env, music, monkeypatch):
    import search as search_module

    monkeypatch.setenv("HUMSEARCH_MUSIC_DIRS", str(music.root))
    monkeypatch.setenv("HUMSEARCH_RERANK", "off")
    index_folder(music.root, embedder=ToyEmbedder(), store=open_store(Config.from_env()))
    calls = []
    real = search_module.search
    monkeypatch.setattr(search_module, "search", lambda *a, **kw: calls.append(kw) or real(*a, **kw))
    at = run_app()
    at.file_uploader[0].upload("hum.wav", wav_bytes(music.songs["alpha.wav"][: 4 * SR]), "audio/wav")
    rerun(at)
    assert [kw["rerank"] for kw in calls] == [False]
    assert result_titles(at)[0] == "alpha"


def test_index_of_another_model_version_asks_for_a_rebuild(app_env, music, monkeypatch):
    monkeypatch.setenv("HUMSEARCH_MUSIC_DIRS", str(music.root))
    index_folder(music.root, embedder=ToyEmbedder(version="1"), store=open_store(Config.from_env()))
    monkeypatch.setattr(embedders, "load_embedder", lambda name, **kw: ToyEmbedder(version="2"))
    at = run_app()
    assert "rebuild" in at.sidebar.warning[0].value and "toy 1" in at.sidebar.warning[0].value
    at.file_uploader[0].upload("hum.wav", wav_bytes(music.songs["alpha.wav"][: 4 * SR]), "audio/wav")
    rerun(at)
    assert "rebuild" in at.main.error[0].value.lower() and not result_titles(at)

    at.checkbox[0].check()  # Library tab: rebuild from scratch with the running model
    at.button[0].click()
    rerun(at)
    assert not at.sidebar.warning
    assert result_titles(at)[0] == "alpha"
