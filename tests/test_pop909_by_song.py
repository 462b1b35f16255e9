"""benchmarks/pop909_by_song.py: hold-out results grouped by song."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import pop909_by_song  # noqa: E402


def test_ranks_are_grouped_by_song_and_summarized():
    per_query = [{"answer": "pop909-001", "rank": 1}, {"answer": "pop909-001", "rank": 1},
                 {"answer": "pop909-002", "rank": None}, {"answer": "pop909-002", "rank": 4}]
    ranks = pop909_by_song.by_song(per_query)
    assert ranks == {"001": [1, 1], "002": [None, 4]}
    (row,) = pop909_by_song.summarize({"all": list(ranks.values())})
    assert row == {"group": "all", "songs": 2, "hums": 4, "top1": 0.5, "top10": 0.75}


def test_found_split_against_independent_hums():
    # Half the hums are found, all of them in one song: the split is wider than chance.
    split = pop909_by_song.found_split({"001": [1, 1], "002": [None, 3]})
    assert split["observed"] == [1, 0, 1]
    assert split["independent"] == pytest.approx([0.5, 1.0, 0.5])


@pytest.mark.parametrize("accuracy, band", [(0.0, "0.0-0.5"), (0.55, "0.5-0.6"), (0.9, "0.9-1.0"), (1.0, "0.9-1.0")])
def test_accuracy_bands(accuracy, band):
    assert pop909_by_song.band_of(accuracy) == band
