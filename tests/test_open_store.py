"""open_store and connect: the config decides the backend, index and credentials."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from humsearch.config import Config
from humsearch.stores import open_store
from humsearch.stores.elastic import ElasticStore, connect
from humsearch.stores.local import LocalStore


def test_local_is_the_default(tmp_path: Path) -> None:
    store = open_store(Config.from_env({}, data_dir=str(tmp_path), embedder="panns"))
    assert isinstance(store, LocalStore)
    assert store.folder == tmp_path / "indexes" / "humsearch-panns"
    assert store.index == "humsearch-panns"


def test_elasticsearch_store_uses_url_index_and_auth(tmp_path: Path) -> None:
    env = {"HUMSEARCH_BACKEND": "elasticsearch", "HUMSEARCH_ES_URL": "http://es:9201", "HUMSEARCH_INDEX": "songs",
           "HUMSEARCH_ES_API_KEY": "k3y"}
    store = open_store(Config.from_env(env, data_dir=str(tmp_path)))
    assert isinstance(store, ElasticStore)
    assert (store.index, store.url) == ("songs", "http://es:9201")
    assert store.client._headers["authorization"] == "ApiKey k3y"


@pytest.mark.parametrize(
    "kwargs, expected",
    [
        ({"user": "u", "password": "p"}, "Basic " + base64.b64encode(b"u:p").decode()),
        ({"api_key": "k", "user": "u", "password": "p"}, "ApiKey k"),  # the key wins
        ({}, None),
    ],
)
def test_connect_credentials(kwargs: dict, expected: str | None) -> None:
    assert connect("http://es:9200", **kwargs)._headers.get("authorization") == expected
