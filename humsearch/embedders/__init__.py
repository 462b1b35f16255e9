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
) -> Embedder:
    """Load an embedder by name.

    Args:
        name: one of EMBEDDERS.
        checkpoint: weights file; None means the embedder's default location.
        device: torch device string.
        window_s: segment length in seconds; None keeps the embedder's default.
        hop_s: seconds between segment starts; None keeps the embedder's default.

    Raises:
        HumSearchError: unknown name.
        ModelNotFoundError: the checkpoint is missing (the message says where to get it).
    """
    # Heavy imports happen here, not at module import, so `--help` stays instant.
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
