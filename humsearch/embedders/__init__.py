"""The one registry of embedders: a name maps to a loader."""

from __future__ import annotations

from pathlib import Path

from humsearch.embedders.base import Embedder, QueryEmbedding, SongEmbedding, l2_normalize
from humsearch.errors import HumSearchError

EMBEDDERS = ("melody", "panns")


def load_embedder(
    name: str,
    *,
    checkpoint: str | Path | None = None,
    device: str = "cpu",
    window_s: float | None = None,
    hop_s: float | None = None,
    threads: int | None = None,
) -> Embedder:
    """Load an embedder by name.

    Args:
        name: one of EMBEDDERS.
        checkpoint: weights file; None means the embedder's default location.
        device: torch device string.
        window_s: segment length in seconds; None keeps the embedder's default.
        hop_s: seconds between segment starts; None keeps the embedder's default.
        threads: torch intra-op threads, applied with `torch.set_num_threads` before loading.
            The setting is process-wide, so it also holds for every other torch model in the
            process. None leaves torch's own choice (one per CPU core). Config.threads defaults to 1.

    Raises:
        HumSearchError: unknown name, or threads below 1.
        ModelNotFoundError: the checkpoint is missing (the message says where to get it).
    """
    # Heavy imports happen here, not at module import, so `--help` stays instant.
    if threads is not None:
        if threads < 1:
            raise HumSearchError(f"threads must be at least 1, got {threads}")
        import torch

        torch.set_num_threads(threads)
    embedder: Embedder
    if name == "melody":
        from humsearch.embedders.melody import MelodyEmbedder

        embedder = MelodyEmbedder.load(checkpoint, device=device)
    elif name == "panns":
        from humsearch.embedders.panns import PannsEmbedder

        embedder = PannsEmbedder.load(checkpoint, device=device)
    else:
        raise HumSearchError(f"unknown embedder {name!r}; choose one of: {', '.join(EMBEDDERS)}")
    if window_s is not None:
        embedder.window_s = window_s
    if hop_s is not None:
        embedder.hop_s = hop_s
    return embedder


__all__ = ["EMBEDDERS", "Embedder", "QueryEmbedding", "SongEmbedding", "l2_normalize", "load_embedder"]
