"""The one registry of embedders: a name maps to a loader."""

from __future__ import annotations

from pathlib import Path

from humsearch.embedders.base import Embedder, l2_normalize
from humsearch.errors import HumSearchError

EMBEDDERS = ("melody", "panns")


def load_embedder(name: str, *, checkpoint: str | Path | None = None, device: str = "cpu") -> Embedder:
    """Load an embedder by name.

    Args:
        name: one of EMBEDDERS.
        checkpoint: weights file; None means the embedder's default location.
        device: torch device string.

    Raises:
        HumSearchError: unknown name.
        ModelNotFoundError: the checkpoint is missing (the message says where to get it).
    """
    # Heavy imports happen here, not at module import, so `--help` stays instant.
    if name == "melody":
        from humsearch.embedders.melody import MelodyEmbedder

        return MelodyEmbedder.load(checkpoint, device=device)
    if name == "panns":
        from humsearch.embedders.panns import PannsEmbedder

        return PannsEmbedder.load(checkpoint, device=device)
    raise HumSearchError(f"unknown embedder {name!r}; choose one of: {', '.join(EMBEDDERS)}")


__all__ = ["EMBEDDERS", "Embedder", "l2_normalize", "load_embedder"]
