"""Elasticsearch backend: one document per song, segment vectors in a `nested` field.

Readers and writers use the alias `<index>`, which points at one physical index
`<index>-<timestamp>`. A rebuild fills a new physical index and then moves the alias and
deletes the old index in one `update_aliases` call, so searches never see a half-built index.

Mapping and query building are pure functions (tested without a server); the ElasticStore
class only sends them. Only kNN, nested, bulk and alias APIs are used: the minimal
distributions (integ-test-zip) have no scripting or reindex module.
"""

from __future__ import annotations

import copy
import json
import re
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
from elasticsearch import (
    ApiError,
    AuthenticationException,
    ConnectionError as EsConnectionError,
    Elasticsearch,
    NotFoundError,
)
from elasticsearch.helpers import BulkIndexError, scan, streaming_bulk

from humsearch.embedders.base import l2_normalize
from humsearch.errors import BackendUnavailableError, HumSearchError, IndexMismatchError, IndexNotFoundError
from humsearch.stores.base import (
    FileState,
    IndexInfo,
    IndexSpec,
    SegmentHit,
    SongDoc,
    Store,
    ensure_compatible,
)
from humsearch.stores.codec import decode_array, encode_array

MAPPINGS_DIR = Path(__file__).resolve().parents[2] / "es_mappings"
VECTOR_FIELD = "segments.vector"
STATE_FIELDS = ["path", "size", "mtime", "sha256"]

# Bulk requests: a song of 100 segments x 2048 dims is ~1.5 MB of JSON, so chunks are small
# in count and bounded in bytes well under Elasticsearch's 100 MB request limit.
BULK_DOCS = 50
BULK_BYTES = 20 * 1024 * 1024
BULK_RETRIES = 5  # retries of 429 (queue full) with exponential backoff from 1 s
VECTOR_DECIMALS = 6  # float32 carries ~7 digits; fewer characters per number halves request size
MAX_NUM_CANDIDATES = 10_000  # Elasticsearch's upper limit


# -- pure functions: mappings, documents, queries ---------------------------------------------


def load_mapping_template(embedder: str, mappings_dir: Path = MAPPINGS_DIR) -> dict[str, Any]:
    """The index body in `<mappings_dir>/<embedder>.json`.

    Raises:
        HumSearchError: no mapping file for this embedder.
    """
    path = Path(mappings_dir) / f"{embedder}.json"
    try:
        return json.loads(path.read_text())
    except FileNotFoundError as e:
        raise HumSearchError(f"no Elasticsearch mapping for embedder {embedder!r} (expected {path})") from e


def build_index_body(spec: IndexSpec, template: Mapping[str, Any]) -> dict[str, Any]:
    """Index settings + mappings from a template, with the spec's dims and a `_meta` naming the spec."""
    body = copy.deepcopy(dict(template))
    mappings = body["mappings"]
    mappings["properties"]["segments"]["properties"]["vector"]["dims"] = spec.dims
    mappings["_meta"] = {"embedder": spec.embedder, "model_version": spec.model_version, "dims": spec.dims}
    for name in ("window_s", "hop_s"):
        if getattr(spec, name) is not None:
            mappings["_meta"][name] = getattr(spec, name)
    return body


def spec_from_mapping(mapping: Mapping[str, Any]) -> IndexSpec | None:
    """The spec recorded in an index's mapping (`_meta`), or None for an index we did not create.

    Indexes created before window_s and hop_s were recorded have neither: they come back as None
    (unknown).
    """
    meta = mapping.get("_meta") or {}
    if not {"embedder", "model_version", "dims"} <= meta.keys():
        return None
    seconds = {name: float(meta[name]) for name in ("window_s", "hop_s") if meta.get(name) is not None}
    return IndexSpec(
        embedder=meta["embedder"], model_version=str(meta["model_version"]), dims=int(meta["dims"]), **seconds
    )


def physical_index_name(alias: str, now: float | None = None) -> str:
    """`<alias>-<UTC timestamp to the microsecond>`: sortable and unique per rebuild."""
    now = time.time() if now is None else now
    stamp = time.strftime("%Y%m%d%H%M%S", time.gmtime(now)) + f"{int(now * 1e6) % 1_000_000:06d}"
    return f"{alias}-{stamp}"


def is_physical_of(name: str, alias: str) -> bool:
    """Whether `name` is a physical index created for `alias` by physical_index_name."""
    return re.fullmatch(re.escape(alias) + r"-\d{20}", name) is not None


def build_swap_actions(alias: str, new_index: str, old_indices: Iterable[str]) -> list[dict[str, Any]]:
    """update_aliases actions that point `alias` at `new_index` and delete the old indices, atomically."""
    actions: list[dict[str, Any]] = [{"add": {"index": new_index, "alias": alias}}]
    actions += [{"remove_index": {"index": old}} for old in old_indices if old != new_index]
    return actions


def song_to_source(doc: SongDoc, spec: IndexSpec) -> dict[str, Any]:
    """The Elasticsearch document of one song."""
    # Rounded in float64: float32 values print as long float64 expansions (0.6000000238418579).
    vectors = np.round(l2_normalize(doc.vectors).astype(np.float64), VECTOR_DECIMALS)
    return {
        "path": doc.path,
        "title": doc.title,
        "duration_s": float(doc.duration_s),
        "sha256": doc.sha256,
        "mtime": float(doc.mtime),
        "size": int(doc.size),
        "embedder": spec.embedder,
        "model_version": spec.model_version,
        "n_segments": len(vectors),
        "melody": encode_array(doc.melody),
        "segments": [
            {"vector": v.tolist(), "start_s": float(s), "end_s": float(e)}
            for v, s, e in zip(vectors, doc.starts_s, doc.ends_s)
        ],
    }


def source_to_song(song_id: str, source: Mapping[str, Any], dims: int) -> SongDoc:
    """A SongDoc from a stored document fetched without its segments (vectors left empty)."""
    empty = np.zeros(0, np.float32)
    return SongDoc(
        id=song_id,
        path=source["path"],
        title=source["title"],
        duration_s=float(source["duration_s"]),
        sha256=source["sha256"],
        mtime=float(source["mtime"]),
        size=int(source["size"]),
        vectors=np.zeros((0, dims), np.float32),
        starts_s=empty,
        ends_s=empty,
        melody=decode_array(source.get("melody")),
    )


def num_candidates_for(k: int) -> int:
    """HNSW candidates per shard: a generous multiple of k keeps recall near exact search."""
    return min(MAX_NUM_CANDIDATES, max(100, 4 * k))


def build_knn_search(vector: np.ndarray, *, k: int) -> dict[str, Any]:
    """Search body: the k best songs for one vector, each with its best segment as inner hit."""
    return {
        "size": k,
        "_source": False,
        "knn": {
            "field": VECTOR_FIELD,
            "query_vector": [float(x) for x in vector],
            "k": k,
            "num_candidates": num_candidates_for(k),
            # Doc values, not _source: reading a segment's times from _source parses the song's
            # whole document (every segment vector) once per hit.
            "inner_hits": {"size": 1, "_source": False,
                           "docvalue_fields": ["segments.start_s", "segments.end_s"]},
        },
    }


def cosine_from_score(score: float) -> float:
    """Elasticsearch's cosine `_score` is (1 + cos) / 2; undo it (clipped: float32 rounding exceeds 1)."""
    return min(1.0, max(-1.0, 2.0 * score - 1.0))


def parse_knn_response(response: Mapping[str, Any]) -> list[SegmentHit]:
    """SegmentHits (best first) from one kNN search response with inner hits."""
    hits = []
    for hit in response["hits"]["hits"]:
        segment = hit["inner_hits"]["segments"]["hits"]["hits"][0]
        hits.append(
            SegmentHit(
                song_id=hit["_id"],
                score=cosine_from_score(segment["_score"]),
                start_s=float(segment["fields"]["segments.start_s"][0]),
                end_s=float(segment["fields"]["segments.end_s"][0]),
            )
        )
    return hits


# -- client ------------------------------------------------------------------------------------


def connect(
    url: str,
    *,
    api_key: str | None = None,
    user: str | None = None,
    password: str | None = None,
    ca_cert: str | None = None,
    request_timeout: float = 30.0,
) -> Elasticsearch:
    """A client for `url` (no request is sent yet). An API key wins over user/password."""
    auth: dict[str, Any] = {}
    if api_key:
        auth["api_key"] = api_key
    elif user:
        auth["basic_auth"] = (user, password or "")
    return Elasticsearch(
        url,
        ca_certs=ca_cert,
        request_timeout=request_timeout,
        max_retries=2,
        retry_on_timeout=True,
        **auth,
    )


class ElasticStore(Store):
    """The Store contract on an Elasticsearch 8.x cluster."""

    backend = "elasticsearch"

    def __init__(self, client: Elasticsearch, index: str, *, url: str = "", mappings_dir: Path = MAPPINGS_DIR):
        """Args:
        client: see connect().
        index: alias name the store reads and writes.
        url: shown in messages and info().
        mappings_dir: folder of `<embedder>.json` index bodies.
        """
        self.client = client
        self.index = index
        self.url = url
        self.mappings_dir = Path(mappings_dir)
        self._target: str | None = None  # where writes go: the alias, or a new index during a rebuild
        self._spec: IndexSpec | None = None
        self._rebuilding = False

    @contextmanager
    def _errors(self) -> Iterator[None]:
        """Turn client exceptions into the project's error family, naming the URL."""
        try:
            yield
        except EsConnectionError as e:
            raise BackendUnavailableError(f"cannot reach Elasticsearch at {self.url}: {e.message}") from e
        except AuthenticationException as e:
            raise BackendUnavailableError(
                f"Elasticsearch at {self.url} refused the credentials "
                "(set HUMSEARCH_ES_API_KEY or HUMSEARCH_ES_USER and HUMSEARCH_ES_PASSWORD)"
            ) from e
        except BulkIndexError as e:
            first = next(iter(e.errors[0].values()), {}) if e.errors else {}
            reason = (first.get("error") or {}).get("reason", "unknown reason")
            raise HumSearchError(f"Elasticsearch refused {len(e.errors)} document(s), first: {reason}") from e
        except ApiError as e:
            raise HumSearchError(f"Elasticsearch at {self.url} refused the request: {_api_reason(e)}") from e

    def _physical_indices(self) -> list[str]:
        """Indices behind the alias (or the concrete index of that name); [] when none."""
        try:
            return sorted(self.client.indices.get(index=self.index))
        except NotFoundError:
            return []

    # -- reading -------------------------------------------------------------------------------

    def spec(self) -> IndexSpec | None:
        with self._errors():
            try:
                mappings = self.client.indices.get_mapping(index=self.index)
            except NotFoundError:
                return None
        specs = {spec_from_mapping(m["mappings"]) for m in mappings.values()}
        if None in specs:
            raise IndexMismatchError(
                f"index {self.index!r} was not created by humsearch: rebuild it or pick another name"
            )
        if len(specs) != 1:
            raise IndexMismatchError(f"index {self.index!r} spans indices of different embedders: rebuild it")
        return specs.pop()

    def info(self) -> IndexInfo:
        spec = self.spec()
        info = IndexInfo(backend=self.backend, index=self.index, spec=spec, songs=0, segments=0, location=self.url)
        if spec is None:
            return info
        with self._errors():
            response = self.client.search(
                index=self.index, size=0, track_total_hits=True, aggs={"segments": {"sum": {"field": "n_segments"}}}
            )
            info.extra = {"physical": ", ".join(self._physical_indices())}
        info.songs = int(response["hits"]["total"]["value"])
        info.segments = int(response["aggregations"]["segments"]["value"])
        return info

    def knn(self, vectors: np.ndarray, *, k: int) -> list[list[SegmentHit]]:
        queries = l2_normalize(np.atleast_2d(vectors))
        searches: list[dict[str, Any]] = []
        for vector in queries:
            searches += [{"index": self.index}, build_knn_search(vector, k=k)]
        with self._errors():
            try:
                responses = self.client.msearch(searches=searches)["responses"]
            except NotFoundError as e:
                raise IndexNotFoundError(f"index {self.index!r} does not exist yet: index a music folder first") from e
        results = []
        for response in responses:
            if "error" in response:
                error = response["error"]
                if error.get("type") == "index_not_found_exception":
                    raise IndexNotFoundError(f"index {self.index!r} does not exist yet: index a music folder first")
                raise HumSearchError(f"Elasticsearch at {self.url} refused the search: {error.get('reason', error)}")
            results.append(parse_knn_response(response))
        return results

    def get_songs(self, ids: Iterable[str]) -> dict[str, SongDoc]:
        ids = list(ids)
        if not ids:
            return {}
        spec = self.spec()
        if spec is None:
            return {}
        with self._errors():
            response = self.client.mget(index=self.index, ids=ids, source_excludes=["segments"])
        return {d["_id"]: source_to_song(d["_id"], d["_source"], spec.dims) for d in response["docs"] if d.get("found")}

    # -- writing -------------------------------------------------------------------------------

    def open_for_write(self, spec: IndexSpec, *, rebuild: bool = False) -> None:
        with self._errors():
            existing = self._physical_indices()
            if existing and not rebuild:
                ensure_compatible(self.spec(), spec, index=self.index)
                self._target = self.index
            else:
                body = build_index_body(spec, load_mapping_template(spec.embedder, self.mappings_dir))
                new_index = physical_index_name(self.index)
                if not existing and not rebuild:
                    body["aliases"] = {self.index: {}}  # created live in one call
                self.client.indices.create(index=new_index, **body)
                self._target = new_index
        self._spec, self._rebuilding = spec, rebuild

    def _writing(self) -> tuple[str, IndexSpec]:
        if self._target is None or self._spec is None:
            raise RuntimeError("call open_for_write() before writing")
        return self._target, self._spec

    def file_states(self) -> dict[str, FileState]:
        target = self._target or self.index
        if self._target is None and self.spec() is None:
            return {}
        with self._errors():
            return {
                hit["_id"]: FileState(**{f: hit["_source"][f] for f in STATE_FIELDS})
                for hit in scan(self.client, index=target, query={"_source": STATE_FIELDS}, size=1000)
            }

    def _bulk(self, actions: Iterable[dict[str, Any]], **kwargs: Any) -> int:
        """Stream actions in bounded chunks; returns how many succeeded."""
        done = 0
        with self._errors():
            for ok, _ in streaming_bulk(
                self.client,
                actions,
                chunk_size=BULK_DOCS,
                max_chunk_bytes=BULK_BYTES,
                max_retries=BULK_RETRIES,
                initial_backoff=1,
                **kwargs,
            ):
                done += ok
        return done

    def upsert(self, docs: Iterable[SongDoc]) -> int:
        target, spec = self._writing()

        def actions() -> Iterator[dict[str, Any]]:
            for doc in docs:
                if doc.vectors.ndim != 2 or doc.vectors.shape[1] != spec.dims or len(doc.vectors) == 0:
                    raise IndexMismatchError(
                        f"{doc.path}: vectors of shape {doc.vectors.shape}, index expects (n>0, {spec.dims})"
                    )
                yield {"_op_type": "index", "_index": target, "_id": doc.id, "_source": song_to_source(doc, spec)}

        return self._bulk(actions())

    def update_states(self, states: Mapping[str, FileState]) -> int:
        target, _ = self._writing()
        actions = (
            {"_op_type": "update", "_index": target, "_id": i, "doc": {"mtime": s.mtime, "size": s.size}}
            for i, s in states.items()
        )
        return self._bulk(actions, ignore_status=(404,))

    def delete(self, ids: Iterable[str]) -> int:
        target, _ = self._writing()
        return self._bulk(({"_op_type": "delete", "_index": target, "_id": i} for i in ids), ignore_status=(404,))

    def commit(self) -> None:
        target, _ = self._writing()
        with self._errors():
            self.client.indices.refresh(index=target)
            if self._rebuilding:
                # Everything behind the alias, plus leftovers of interrupted rebuilds, goes.
                candidates = self.client.indices.get(index=f"{self.index}-*")
                leftovers = [n for n in candidates if is_physical_of(n, self.index)]
                old = set(self._physical_indices()) | set(leftovers)
                self.client.indices.update_aliases(actions=build_swap_actions(self.index, target, sorted(old)))
        self._target, self._spec, self._rebuilding = None, None, False


def _api_reason(error: ApiError) -> str:
    """The most specific reason Elasticsearch gave."""
    info = error.info if isinstance(error.info, dict) else {}
    cause = info.get("error", {})
    if isinstance(cause, dict):
        root = (cause.get("root_cause") or [cause])[0]
        return str(root.get("reason") or cause.get("type") or error.message)
    return str(cause or error.message)
