"""es_mappings/*.json and the pure Elasticsearch request builders (no server needed)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from humsearch.constants import PANNS_DIMS
from humsearch.embedders import EMBEDDERS
from humsearch.errors import HumSearchError
from humsearch.stores.base import IndexSpec, SongDoc
from humsearch.stores.elastic import (
    MAPPINGS_DIR,
    build_index_body,
    build_knn_search,
    build_swap_actions,
    cosine_from_score,
    is_physical_of,
    load_mapping_template,
    parse_knn_response,
    physical_index_name,
    song_to_source,
    source_to_song,
    spec_from_mapping,
)

EXPECTED_DIMS = {"melody": 128, "panns": PANNS_DIMS}


def vector_field(body: dict) -> dict:
    return body["mappings"]["properties"]["segments"]["properties"]["vector"]


@pytest.mark.parametrize("embedder", EMBEDDERS)
def test_every_embedder_has_a_mapping_with_its_dims(embedder: str) -> None:
    body = load_mapping_template(embedder)
    field = vector_field(body)
    assert field["dims"] == EXPECTED_DIMS[embedder]
    assert (field["type"], field["similarity"], field["index"]) == ("dense_vector", "cosine", True)
    options = field["index_options"]
    assert options["type"] in ("hnsw", "int8_hnsw") and options["m"] > 0 and options["ef_construction"] > 0
    props = body["mappings"]["properties"]
    assert props["segments"]["type"] == "nested"
    assert set(props["segments"]["properties"]) == {"vector", "start_s", "end_s"}
    assert props["title"]["fields"]["keyword"]["type"] == "keyword"
    assert {"path", "title", "duration_s", "sha256", "mtime", "size", "embedder", "model_version"} <= set(props)
    assert props["mtime"]["type"] == "double"  # float32 would round epoch seconds to minutes
    assert props["melody"]["enabled"] is False
    assert body["mappings"]["dynamic"] == "strict"
    assert body["mappings"]["_source"] == {"excludes": ["segments.vector"]}  # indexed, not stored
    assert sorted(p.stem for p in MAPPINGS_DIR.glob("*.json")) == sorted(EMBEDDERS)


def test_index_body_takes_dims_and_meta_from_the_spec() -> None:
    template = load_mapping_template("melody")
    body = build_index_body(IndexSpec("melody", "v3", 64), template)
    assert vector_field(body)["dims"] == 64
    assert vector_field(template)["dims"] == 128  # template untouched
    assert spec_from_mapping(body["mappings"]) == IndexSpec("melody", "v3", 64)
    assert set(body["mappings"]["_meta"]) == {"embedder", "model_version", "dims"}  # unknown windows: not written
    assert spec_from_mapping({"properties": {}}) is None

    spec = IndexSpec("melody", "v3", 64, window_s=10.0, hop_s=2.0)
    body = build_index_body(spec, template)
    assert body["mappings"]["_meta"] == {"embedder": "melody", "model_version": "v3", "dims": 64,
                                         "window_s": 10.0, "hop_s": 2.0}
    assert spec_from_mapping(body["mappings"]) == spec
    assert spec_from_mapping(json.loads(json.dumps(body["mappings"]))) == spec  # as the server returns it
    with pytest.raises(HumSearchError, match="no Elasticsearch mapping"):
        load_mapping_template("nosuch")


def test_knn_search_body() -> None:
    body = build_knn_search(np.array([0.6, 0.8], np.float32), k=40)
    knn = body["knn"]
    assert body["size"] == 40 and body["_source"] is False
    assert (knn["field"], knn["k"]) == ("segments.vector", 40)
    assert knn["num_candidates"] >= 40
    assert knn["query_vector"] == pytest.approx([0.6, 0.8])
    assert knn["inner_hits"]["size"] == 1
    # segment times from doc values: reading _source would parse every vector of the song
    assert knn["inner_hits"]["_source"] is False
    assert knn["inner_hits"]["docvalue_fields"] == ["segments.start_s", "segments.end_s"]
    assert build_knn_search(np.ones(2), k=5000)["knn"]["num_candidates"] == 10_000


def test_parse_knn_response_converts_scores() -> None:
    def hit(i: str, score: float, start: float) -> dict:
        inner = {"_score": score, "fields": {"segments.start_s": [start], "segments.end_s": [start + 10]}}
        return {"_id": i, "_score": score, "inner_hits": {"segments": {"hits": {"hits": [inner]}}}}

    hits = parse_knn_response({"hits": {"hits": [hit("a", 1.0000002, 4.0), hit("b", 0.75, 0.0)]}})
    assert [(h.song_id, h.score, h.start_s, h.end_s) for h in hits] == [("a", 1.0, 4.0, 14.0), ("b", 0.5, 0.0, 10.0)]
    assert cosine_from_score(0.0) == -1.0


def test_physical_names_and_alias_swap() -> None:
    name = physical_index_name("humsearch-melody", now=1_700_000_000.123456)
    assert name == "humsearch-melody-20231114221320123456"
    assert is_physical_of(name, "humsearch-melody")
    assert not is_physical_of(name, "humsearch")
    assert not is_physical_of("humsearch-melody-old", "humsearch-melody")
    assert build_swap_actions("idx", "idx-2", ["idx-1", "idx-2"]) == [
        {"add": {"index": "idx-2", "alias": "idx"}},
        {"remove_index": {"index": "idx-1"}},
    ]


def test_song_document_round_trip() -> None:
    vectors = np.array([[3.0, 4.0], [1.0, 0.0]], np.float32)
    doc = SongDoc(
        id="x", path="/m/x.wav", title="X", duration_s=12.5, sha256="ab", mtime=1_700_000_000.123456, size=99,
        vectors=vectors, starts_s=np.array([0.0, 2.0]), ends_s=np.array([10.0, 12.0]),
        melody=np.array([1, -2, 3], np.int8),
    )
    source = song_to_source(doc, IndexSpec("melody", "v1", 2))
    assert source["segments"][0] == {"vector": [0.6, 0.8], "start_s": 0.0, "end_s": 10.0}  # normalized
    assert (source["embedder"], source["model_version"], source["n_segments"]) == ("melody", "v1", 2)
    back = source_to_song("x", source, dims=2)
    assert (back.path, back.title, back.mtime, back.size) == (doc.path, doc.title, doc.mtime, doc.size)
    assert back.vectors.shape == (0, 2)
    np.testing.assert_array_equal(back.melody, doc.melody)
