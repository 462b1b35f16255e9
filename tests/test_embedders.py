"""The embedder registry: load_embedder's options."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch

from humsearch.embedders import load_embedder
from humsearch.embedders.melody import QUERY_HOP_S
from humsearch.errors import HumSearchError
from humsearch.stores.base import IndexSpec


@pytest.fixture
def restore_threads() -> Iterator[int]:
    """torch's thread count is process-wide: put it back after the test."""
    before = torch.get_num_threads()
    yield before
    torch.set_num_threads(before)


@pytest.mark.parametrize("threads", [1, 2])
def test_threads_are_applied(restore_threads: int, threads: int) -> None:
    torch.set_num_threads(3 - threads)  # start from the other value, so the call must change it
    load_embedder("melody", threads=threads)
    assert torch.get_num_threads() == threads


def test_no_threads_leaves_torch_alone(restore_threads: int) -> None:
    torch.set_num_threads(2)
    load_embedder("melody")
    assert torch.get_num_threads() == 2


def test_threads_below_one_are_refused(restore_threads: int) -> None:
    with pytest.raises(HumSearchError, match="threads must be at least 1"):
        load_embedder("melody", threads=0)
    assert torch.get_num_threads() == restore_threads


def test_index_spec_records_the_song_windows_not_the_query_hop() -> None:
    melody = load_embedder("melody")
    spec = IndexSpec.for_embedder(melody)
    assert (spec.window_s, spec.hop_s) == (melody.window_s, melody.hop_s) == (10.0, 2.0)
    assert QUERY_HOP_S != spec.hop_s  # queries are cut with their own hop; it does not belong to the index
    spec = IndexSpec.for_embedder(load_embedder("melody", window_s=8, hop_s=1.5))
    assert (spec.window_s, spec.hop_s) == (8.0, 1.5)
