"""Config: environment variables, defaults and overrides."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from humsearch.config import ENV_VARS, Config
from humsearch.errors import ConfigError


def test_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    config = Config.from_env({"XDG_DATA_HOME": "/xdg"})
    assert (config.backend, config.embedder, config.es_url) == ("local", "melody", "http://localhost:9200")
    assert config.index_name == "humsearch-melody"
    assert config.local_index_dir == Path("/xdg/humsearch/indexes/humsearch-melody")
    assert config.demo_catalog_dir == Path("/xdg/humsearch/demo-catalog")
    assert (config.window_s, config.hop_s, config.music_dirs) == (None, None, ())
    assert config.rerank is True
    assert config.threads == 1
    monkeypatch.setenv("HOME", "/home/u")
    assert Config.from_env({}).data_dir == Path("/home/u/.local/share/humsearch")


def test_every_setting_is_read_from_its_variable(tmp_path: Path) -> None:
    env = {
        "HUMSEARCH_BACKEND": "elasticsearch",
        "HUMSEARCH_ES_URL": "https://es:9200",
        "HUMSEARCH_ES_API_KEY": "key",
        "HUMSEARCH_ES_USER": "elastic",
        "HUMSEARCH_ES_PASSWORD": "secret",
        "HUMSEARCH_ES_CA_CERT": "/ca.pem",
        "HUMSEARCH_INDEX": "songs",
        "HUMSEARCH_EMBEDDER": "panns",
        "HUMSEARCH_CHECKPOINT": "/w.pth",
        "HUMSEARCH_WINDOW_S": "8",
        "HUMSEARCH_HOP_S": "1.5",
        "HUMSEARCH_MUSIC_DIRS": os.pathsep.join(["/a", "/b c"]),
        "HUMSEARCH_DATA_DIR": str(tmp_path),
        "HUMSEARCH_RERANK": "off",
        "HUMSEARCH_THREADS": "3",
    }
    assert set(env) == set(ENV_VARS.values())
    config = Config.from_env(env)
    assert config == Config(
        data_dir=tmp_path, backend="elasticsearch", es_url="https://es:9200", es_api_key="key", es_user="elastic",
        es_password="secret", es_ca_cert="/ca.pem", index="songs", embedder="panns", checkpoint="/w.pth",
        window_s=8.0, hop_s=1.5, music_dirs=("/a", "/b c"), rerank=False,
        threads=3,
    )
    assert "secret" not in repr(config) and "key" not in repr(config).replace("api_key", "")


def test_overrides_win_and_none_means_unset() -> None:
    config = Config.from_env({"HUMSEARCH_INDEX": "env", "HUMSEARCH_EMBEDDER": "panns"}, index="flag", embedder=None)
    assert (config.index, config.embedder) == ("flag", "panns")


@pytest.mark.parametrize(
    "env, overrides, message",
    [
        ({"HUMSEARCH_BACKEND": "mysql"}, {}, "unknown backend"),
        ({"HUMSEARCH_WINDOW_S": "ten"}, {}, "HUMSEARCH_WINDOW_S"),
        ({}, {"hop_s": 0}, "positive"),
        ({}, {"colour": "red"}, "unknown setting"),
        ({"HUMSEARCH_RERANK": "maybe"}, {}, "HUMSEARCH_RERANK"),
        ({"HUMSEARCH_THREADS": "0"}, {}, r"HUMSEARCH_THREADS: cannot read '0' \(must be at least 1\)"),
        ({"HUMSEARCH_THREADS": "-2"}, {}, "HUMSEARCH_THREADS.*at least 1"),
        ({"HUMSEARCH_THREADS": "1.5"}, {}, "HUMSEARCH_THREADS: cannot read '1.5'"),
        ({"HUMSEARCH_THREADS": "two"}, {}, "HUMSEARCH_THREADS: cannot read 'two'"),
        ({}, {"threads": 0}, "--threads.*at least 1"),
        ({}, {"threads": 2.0}, "--threads.*whole number"),
        ({}, {"threads": True}, "--threads.*whole number"),
    ],
)
def test_bad_values_are_refused(env: dict, overrides: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Config.from_env(env, **overrides)


@pytest.mark.parametrize("word, expected", [("1", True), ("Yes", True), ("on", True), ("0", False), ("OFF", False)])
def test_rerank_switch_words(word: str, expected: bool) -> None:
    assert Config.from_env({"HUMSEARCH_RERANK": word}).rerank is expected
    assert Config.from_env({"HUMSEARCH_RERANK": word}, rerank=not expected).rerank is (not expected)  # flag wins


def test_threads_from_variable_and_flag() -> None:
    assert Config.from_env({"HUMSEARCH_THREADS": " 2 "}).threads == 2
    assert Config.from_env({"HUMSEARCH_THREADS": "2"}, threads=4).threads == 4  # flag wins
    with pytest.raises(ConfigError, match="threads must be a positive whole number"):
        Config(data_dir=Path("/d"), threads=0)  # built directly, without from_env
