"""Command line: `humsearch index DIR...`, `humsearch search FILE`, `humsearch info`, `humsearch eval`.

Parses arguments, builds the Config (flags override HUMSEARCH_* environment variables), then
calls the library. Heavy modules (torch, the Elasticsearch client) load after parsing, so
`--help` is instant.

Exit codes: 0 success; 1 indexing finished but some files failed; 2 an error (bad arguments,
unreadable query, missing index, unreachable backend, ...), printed as `humsearch: error: ...`;
130 interrupted.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

from humsearch.config import BACKENDS, Config
from humsearch.display import clock
from humsearch.errors import HumSearchError

PROG = "humsearch"
EXIT_OK, EXIT_FAILED_FILES, EXIT_ERROR, EXIT_INTERRUPTED = 0, 1, 2, 130


def build_parser() -> argparse.ArgumentParser:
    """The argument parser; global options are accepted before or after the subcommand."""
    # SUPPRESS: an option given only before the subcommand is not reset by the subparser's default.
    common = argparse.ArgumentParser(add_help=False)
    group = common.add_argument_group("settings (override HUMSEARCH_* environment variables)")
    group.add_argument("--backend", choices=BACKENDS, default=argparse.SUPPRESS, help="search backend [local]")
    group.add_argument("--es-url", default=argparse.SUPPRESS, help="Elasticsearch URL [http://localhost:9200]")
    group.add_argument("--index", default=argparse.SUPPRESS, help="index name [humsearch-<embedder>]")
    group.add_argument("--embedder", default=argparse.SUPPRESS, help="embedder name [melody]")
    group.add_argument("--checkpoint", default=argparse.SUPPRESS, help="embedder weights file")
    group.add_argument("--data-dir", default=argparse.SUPPRESS, help="folder for local indexes")
    group.add_argument("--window-s", type=float, default=argparse.SUPPRESS, help="segment length in seconds")
    group.add_argument("--hop-s", type=float, default=argparse.SUPPRESS, help="seconds between segments")
    group.add_argument("--threads", type=int, default=argparse.SUPPRESS, help="torch threads for the embedder [1]")

    parser = argparse.ArgumentParser(
        prog=PROG, description="Hum a tune, find the song in your music folder.", parents=[common]
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("index", parents=[common], help="index music folders (incremental)")
    p.add_argument("dirs", nargs="*", metavar="DIR", help="folders to index [HUMSEARCH_MUSIC_DIRS]")
    p.add_argument("--rebuild", action="store_true", help="build a fresh index and swap it in")
    p.add_argument("--json", action="store_true", help="print the report as JSON")

    p = sub.add_parser("search", parents=[common], help="find the songs an audio file hums")
    p.add_argument("file", metavar="FILE", help="query recording (wav, mp3, flac, ogg, m4a, ...)")
    p.add_argument("--k", type=_positive_int, default=10, help="number of results [10]")
    p.add_argument("--no-rerank", dest="rerank", action="store_false", default=None,
                   help="kNN ranking only, no melody re-ranking [HUMSEARCH_RERANK]")
    p.add_argument("--json", action="store_true", help="print results as JSON")

    p = sub.add_parser("info", parents=[common], help="show the index status")
    p.add_argument("--json", action="store_true", help="print as JSON")

    p = sub.add_parser("eval", parents=[common], help="measure accuracy on a query-by-humming set",
                       description="Render (cached) and index a catalog, run its queries, print top-1, "
                       "top-10, MRR, per-query ranks and latency. Needs ../shared/data.")
    p.add_argument("--set", dest="query_set", choices=("mirqbsh", "pop909"), default="mirqbsh",
                   help="query set [mirqbsh]")
    p.add_argument("--cache", type=Path, default=Path("cache/eval"), help="rendered catalogs [cache/eval]")
    p.add_argument("--limit", type=_positive_int, default=None, help="only the first N catalog songs")
    p.add_argument("--rebuild", action="store_true", help="rebuild the catalog index from scratch")
    p.add_argument("--k", type=_positive_int, default=10, help="rank cut-off for top-k [10]")
    p.add_argument("--no-rerank", dest="rerank", action="store_false", default=None,
                   help="kNN ranking only, no melody re-ranking [HUMSEARCH_RERANK]")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    return parser


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format=f"{PROG}: %(message)s")
    try:
        settings = {name: getattr(args, name, None) for name in
                    ("backend", "es_url", "index", "embedder", "checkpoint", "data_dir", "window_s", "hop_s",
                     "rerank", "threads")}
        if args.command == "eval" and not settings["index"]:  # never mix with the user's own index
            settings["index"] = f"eval-{args.query_set}-{settings['embedder'] or Config.from_env().embedder}"
        config = Config.from_env(**settings)
        command = {"index": _cmd_index, "search": _cmd_search, "info": _cmd_info, "eval": _cmd_eval}[args.command]
        return command(args, config)
    except HumSearchError as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def _load_embedder(config: Config) -> Any:
    from humsearch import embedders

    return embedders.load_embedder(
        config.embedder, checkpoint=config.checkpoint, window_s=config.window_s, hop_s=config.hop_s,
        threads=config.threads,
    )


def _cmd_index(args: argparse.Namespace, config: Config) -> int:
    from tqdm import tqdm
    from tqdm.contrib.logging import logging_redirect_tqdm

    from humsearch.stores import open_store
    from indexer import index_folder

    dirs = args.dirs or list(config.music_dirs)
    if not dirs:
        raise HumSearchError("no folder to index: pass DIR or set HUMSEARCH_MUSIC_DIRS")
    embedder = _load_embedder(config)
    store = open_store(config)
    with tqdm(desc="indexing", unit="file", file=sys.stderr, disable=None) as bar, logging_redirect_tqdm():

        def progress(done: int, total: int, path: str) -> None:
            bar.total = total
            bar.update(done - bar.n)
            bar.set_postfix_str(Path(path).name[-40:], refresh=False)

        report = index_folder(dirs, embedder=embedder, store=store, rebuild=args.rebuild, progress=progress)

    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
    else:
        total = report.added + report.updated + report.unchanged + len(report.failed)
        print(
            f"indexed {total} files into {store.index!r} in {report.seconds:.1f} s "
            f"({report.realtime_factor:.1f}x realtime): {report.added} added, {report.updated} updated, "
            f"{report.unchanged} unchanged, {report.removed} removed, {len(report.failed)} failed"
        )
        for path, reason in report.failed:
            print(f"  failed: {path}: {reason}")
    return EXIT_FAILED_FILES if report.failed else EXIT_OK


def _cmd_search(args: argparse.Namespace, config: Config) -> int:
    from humsearch.audio import load_audio
    from humsearch.stores import open_store
    from search import search

    embedder = _load_embedder(config)
    audio = load_audio(args.file, sr=embedder.sample_rate)
    hits = search(audio, embedder=embedder, store=open_store(config), k=args.k, rerank=config.rerank)
    if args.json:
        print(json.dumps({"query": args.file, "hits": [h.to_dict() for h in hits]}, indent=2))
    elif not hits:
        print("no match")
    else:
        for h in hits:
            print(f"{h.rank:>3}  {h.percent:5.1f}%  {clock(h.start_s)}-{clock(h.end_s)}  {h.title}  ({h.path})")
    return EXIT_OK


def _cmd_info(args: argparse.Namespace, config: Config) -> int:
    from humsearch.stores import open_store

    info = open_store(config).info()
    data = {
        "backend": info.backend,
        "index": info.index,
        "location": info.location,
        "exists": info.spec is not None,
        "embedder": info.spec.embedder if info.spec else None,
        "model_version": info.spec.model_version if info.spec else None,
        "dims": info.spec.dims if info.spec else None,
        "window_s": info.spec.window_s if info.spec else None,  # None also for an index that predates them
        "hop_s": info.spec.hop_s if info.spec else None,
        "songs": info.songs,
        "segments": info.segments,
        "configured_embedder": config.embedder,
        **info.extra,
    }
    if args.json:
        print(json.dumps(data, indent=2))
    else:
        for key, value in data.items():
            print(f"{key + ':':<21}{'-' if value is None else value}")
    return EXIT_OK


def _cmd_eval(args: argparse.Namespace, config: Config) -> int:
    from tqdm import tqdm

    from humsearch.evaluation import format_table, run_eval
    from humsearch.stores import open_store

    bars: dict[str, tqdm] = {}

    def progress(stage: str, done: int, total: int) -> None:
        bar = bars.setdefault(stage, tqdm(desc=stage, total=total, unit="item", file=sys.stderr, disable=None))
        bar.update(done - bar.n)

    report = run_eval(args.query_set, embedder=_load_embedder(config), store=open_store(config),
                      cache_dir=args.cache, k=args.k, limit=args.limit, rebuild=args.rebuild, progress=progress,
                      rerank=config.rerank)
    for bar in bars.values():
        bar.close()
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(format_table(f"{args.query_set} ({report['embedder']} {report['model_version']}, "
                           f"{report['catalog_songs']} songs, rerank {'on' if config.rerank else 'off'})",
                           report, k=args.k, baseline=report.get("baseline")))
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
