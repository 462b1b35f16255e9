"""Shared fixtures: seeded randomness, synthetic music folders, and the Elasticsearch URL."""

from __future__ import annotations

import json
import os
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from toy import ToyEmbedder, melody, write_audio

ES_URL_ENV = "HUMSEARCH_TEST_ES_URL"
DEFAULT_ES_URL = "http://127.0.0.1:9200"


@pytest.fixture
def rng() -> np.random.Generator:
    """Fresh seeded generator per test."""
    return np.random.default_rng(20240611)


@pytest.fixture(scope="module")
def module_rng() -> np.random.Generator:
    """Seeded generator shared by a module's tests."""
    return np.random.default_rng(7)


@pytest.fixture
def embedder() -> ToyEmbedder:
    return ToyEmbedder()


@dataclass
class MusicFolder:
    """A folder of generated songs and the audio written to each file."""

    root: Path
    songs: dict[str, np.ndarray]  # file name (relative to root) -> samples at SR

    def path(self, name: str) -> Path:
        return self.root / name

    def add(self, name: str, audio: np.ndarray) -> Path:
        self.songs[name] = audio
        return write_audio(self.root / name, audio)


@pytest.fixture
def music(tmp_path: Path, rng: np.random.Generator) -> MusicFolder:
    """Three 8 s songs, one in a subfolder and one with an upper-case extension."""
    folder = MusicFolder(root=tmp_path / "music", songs={})
    for name in ("alpha.wav", "sub/beta.flac", "Gamma.WAV"):
        folder.add(name, melody(rng))
    return folder


@pytest.fixture(scope="session")
def es_url() -> str:
    """URL of a live Elasticsearch; skips when none answers, except in CI where that fails."""
    url = os.environ.get(ES_URL_ENV, DEFAULT_ES_URL).rstrip("/")
    try:
        with urllib.request.urlopen(f"{url}/_cluster/health", timeout=5) as response:
            status = json.load(response).get("status")
        if status not in ("green", "yellow"):
            raise RuntimeError(f"cluster health is {status}")
    except Exception as e:  # any failure means: no usable cluster
        message = f"no Elasticsearch at {url} ({e}); start one with scripts/elasticsearch.sh start"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return url

