"""Search latency of the Elasticsearch backend against the local index, on the same songs.

    python benchmarks/store_speed.py [--index eval-mirqbsh-melody] [--es-url http://127.0.0.1:9200] [--repeat 3] [--json]

Copies the songs of a local index (built by `cli.py eval --set mirqbsh`, so no audio is
embedded here) into an Elasticsearch index of the same name plus `-store-speed`, then runs the
19 MIR-QBSH dev queries through `search.search` on both stores. Prints, per store, the median
and 90th percentile of the whole search and of the time spent inside the store (kNN requests
and the song lookup), and whether both stores ranked every answer alike. The local index is
the baseline of the same run. Start Elasticsearch first: `scripts/elasticsearch.sh start`.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from humsearch.config import Config  # noqa: E402
from humsearch.evaluation import mirqbsh_queries  # noqa: E402
from humsearch.stores.base import Store  # noqa: E402
from humsearch.stores.elastic import ElasticStore, connect  # noqa: E402
from humsearch.stores.local import LocalStore  # noqa: E402


class TimedStore:
    """A store whose reads are timed: seconds spent in knn and get_songs since the last reset."""

    def __init__(self, store: Store):
        self.store, self.seconds = store, 0.0

    def __getattr__(self, name):
        return getattr(self.store, name)

    def _timed(self, method, *args, **kwargs):
        t0 = time.perf_counter()
        try:
            return method(*args, **kwargs)
        finally:
            self.seconds += time.perf_counter() - t0

    def knn(self, vectors, *, k):
        return self._timed(self.store.knn, vectors, k=k)

    def get_songs(self, ids):
        return self._timed(self.store.get_songs, list(ids))


def copy_to_elasticsearch(local: LocalStore, es: ElasticStore) -> int:
    # The Store interface reads songs without their vectors; the local index's own snapshot
    # has them.
    es.open_for_write(local.spec(), rebuild=True)
    n = es.upsert(local._load_live().songs.values())
    es.commit()
    return n


def measure(store: TimedStore, queries, embedder, repeat: int) -> dict:
    from search import search

    totals, inside, ranks = [], [], []
    search(queries[0].audio, embedder=embedder, store=store)  # warm-up: caches, JIT, connections
    for _ in range(repeat):
        for q in queries:
            store.seconds = 0.0
            t0 = time.perf_counter()
            hits = search(q.audio, embedder=embedder, store=store, k=10)
            totals.append(time.perf_counter() - t0)
            inside.append(store.seconds)
            ranks.append(next((h.rank for h in hits if Path(h.path).stem == q.answer), None))
    ms = lambda xs, p: round(float(np.percentile(xs, p)) * 1000, 1)  # noqa: E731
    return {"search_ms_median": ms(totals, 50), "search_ms_p90": ms(totals, 90),
            "store_ms_median": ms(inside, 50), "store_ms_p90": ms(inside, 90), "ranks": ranks[: len(queries)]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--index", default="eval-mirqbsh-melody", help="local index to copy")
    parser.add_argument("--es-url", default="http://127.0.0.1:9200")
    parser.add_argument("--repeat", type=int, default=3, help="times each query is searched")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    from humsearch.embedders import load_embedder

    config = Config.from_env(index=args.index)
    local = LocalStore(config.local_index_dir)
    if local.spec() is None:
        parser.error(f"no local index at {config.local_index_dir}: run cli.py eval --set mirqbsh first")
    es = ElasticStore(connect(args.es_url), f"{args.index}-store-speed", url=args.es_url)
    t0 = time.perf_counter()
    songs = copy_to_elasticsearch(local, es)
    copy_s = time.perf_counter() - t0
    embedder = load_embedder(config.embedder, checkpoint=config.checkpoint, threads=config.threads)
    queries = mirqbsh_queries()
    result = {"songs": songs, "copy_s": round(copy_s, 1), "queries": len(queries), "repeat": args.repeat,
              "model_version": embedder.version}
    for name, store in (("local", local), ("elasticsearch", es)):
        result[name] = measure(TimedStore(store), queries, embedder, args.repeat)
    result["same_ranks"] = result["local"]["ranks"] == result["elasticsearch"]["ranks"]
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"{songs} songs copied in {copy_s:.0f} s; {len(queries)} queries x {args.repeat}")
        for name in ("local", "elasticsearch"):
            r = result[name]
            print(f"  {name:14s} search {r['search_ms_median']:7.1f} ms (p90 {r['search_ms_p90']:.1f})"
                  f"   in the store {r['store_ms_median']:7.1f} ms (p90 {r['store_ms_p90']:.1f})")
        print(f"  same ranks: {result['same_ranks']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
