"""Embedding speed of one embedder: song indexing in x realtime and query latency.

    python benchmarks/embed_speed.py panns [--checkpoint FILE] [--runs 3] [--json]

Song indexing = `embed_song` on a synthetic song (60 s by default), reported as seconds of audio
per second of compute; query latency = `embed_query` on a 10 s query. Each is the median of
`--runs` timed runs after one untimed warm-up. For panns without `--checkpoint` (and no file at the
default location), a randomly initialized Cnn14 is written to a temporary folder: same
architecture, same compute cost as the released weights.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]


def synthetic_audio(seconds: float, sample_rate: int, *, seed: int = 0) -> Any:
    """A melody of half-second harmonic tones over light noise (float32 mono, peak < 1)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    n = int(seconds * sample_rate)
    t = np.arange(n) / sample_rate
    notes = 220.0 * 2 ** (rng.integers(0, 12, size=int(np.ceil(seconds * 2)) + 1) / 12)
    freq = notes[(t * 2).astype(int)]
    phase = 2 * np.pi * np.cumsum(freq) / sample_rate
    audio = 0.3 * np.sin(phase) + 0.1 * np.sin(2 * phase) + 0.01 * rng.standard_normal(n)
    return audio.astype(np.float32)


def median_seconds(fn: Any, runs: int) -> float:
    """Median wall time of `runs` calls, after one untimed warm-up call."""
    fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def run(name: str, checkpoint: str | None, *, runs: int, song_s: float, query_s: float, threads: int | None) -> dict:
    """Load the embedder and time it; returns the numbers the table shows."""
    import torch

    from humsearch.embedders import load_embedder

    if threads:
        torch.set_num_threads(threads)
    with tempfile.TemporaryDirectory(prefix="embed-speed-") as tmp:
        random_init = False
        if name == "panns" and checkpoint is None:
            from humsearch.embedders.panns import default_checkpoint_path, save_random_checkpoint

            if not default_checkpoint_path().is_file():
                checkpoint = str(save_random_checkpoint(Path(tmp) / "cnn14-random.pth"))
                random_init = True

        start = time.perf_counter()
        embedder = load_embedder(name, checkpoint=checkpoint)
        load_s = time.perf_counter() - start

        song = synthetic_audio(song_s, embedder.sample_rate, seed=1)
        query = synthetic_audio(query_s, embedder.sample_rate, seed=2)
        n_song_vectors = len(embedder.embed_song(song).vectors)
        n_query_vectors = len(embedder.embed_query(query).vectors)
        song_time = median_seconds(lambda: embedder.embed_song(song), runs)
        query_time = median_seconds(lambda: embedder.embed_query(query), runs)

    return {
        "embedder": name,
        "version": embedder.version,
        "random_init": random_init,
        "torch_threads": torch.get_num_threads(),
        "runs": runs,
        "load_s": round(load_s, 2),
        "window_s": embedder.window_s,
        "hop_s": embedder.hop_s,
        "song_s": song_s,
        "song_vectors": n_song_vectors,
        "song_time_s": round(song_time, 3),
        "song_x_realtime": round(song_s / song_time, 2),
        "query_s": query_s,
        "query_vectors": n_query_vectors,
        "query_latency_s": round(query_time, 3),
    }


def format_table(result: dict) -> str:
    """A small Markdown table of one result."""
    weights = "random-init weights, same architecture" if result["random_init"] else result["version"]
    rows = [
        ("embedder", f"{result['embedder']}: {weights}"),
        ("torch threads", str(result["torch_threads"])),
        ("model load", f"{result['load_s']:.2f} s"),
        (
            f"song indexing ({result['song_s']:g} s, {result['song_vectors']} windows of "
            f"{result['window_s']:g} s, hop {result['hop_s']:g} s)",
            f"{result['song_time_s']:.2f} s = {result['song_x_realtime']:.2f}x realtime",
        ),
        (
            f"query latency ({result['query_s']:g} s query, {result['query_vectors']} vectors)",
            f"{result['query_latency_s']:.3f} s",
        ),
    ]
    width = max(len(k) for k, _ in rows)
    lines = [f"| {'measure'.ljust(width)} | median of {result['runs']} runs |", f"|{'-' * (width + 2)}|---|"]
    lines += [f"| {k.ljust(width)} | {v} |" for k, v in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Time an embedder: song indexing speed (x realtime) and query latency.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("embedder", help="embedder name, as for humsearch.embedders.load_embedder")
    parser.add_argument("--checkpoint", help="weights file (default: the embedder's default location; "
                        "for panns a random-init Cnn14 if that is missing)")
    parser.add_argument("--runs", type=int, default=3, help="timed runs per measure (median reported)")
    parser.add_argument("--song-s", type=float, default=60.0, help="synthetic song length in seconds")
    parser.add_argument("--query-s", type=float, default=10.0, help="synthetic query length in seconds")
    parser.add_argument("--threads", type=int, help="torch intra-op threads (default: torch's choice)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    if args.song_s <= 0 or args.query_s <= 0:
        parser.error("--song-s and --query-s must be positive")
    if args.checkpoint and not Path(args.checkpoint).is_file():
        parser.error(f"--checkpoint {args.checkpoint}: no such file")

    if str(REPO_ROOT) not in sys.path:  # run from a checkout without installing the package
        sys.path.insert(0, str(REPO_ROOT))
    from humsearch.errors import HumSearchError

    try:
        result = run(args.embedder, args.checkpoint, runs=args.runs, song_s=args.song_s,
                     query_s=args.query_s, threads=args.threads)
    except HumSearchError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(json.dumps(result, indent=2) if args.json else format_table(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
