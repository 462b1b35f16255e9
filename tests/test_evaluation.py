"""The evaluation's arithmetic: ranks in, metrics and tables out."""

from pathlib import Path

import numpy as np
import pytest

from humsearch.evaluation import QueryResult, dtw_baseline, format_table, metrics, report


def test_metrics_on_known_ranks():
    m = metrics([1, 2, None, 10, 11], k=10)
    assert m["queries"] == 5
    assert m["top1"] == pytest.approx(1 / 5)
    assert m["top10"] == pytest.approx(3 / 5)
    # 1/1 + 1/2 + 0 + 1/10 + 1/11, a miss counts zero
    assert m["mrr"] == pytest.approx((1 + 0.5 + 0.1 + 1 / 11) / 5)


def test_metrics_top_k_follows_k():
    assert metrics([3, 6], k=5)["top5"] == pytest.approx(0.5)


def test_report_and_table_carry_every_query():
    results = [QueryResult("q1", "a", 1, "a", 0.05), QueryResult("q2", "b", None, "c", 0.15)]
    rep = report(results)
    assert rep["mrr"] == pytest.approx(0.5)
    assert rep["latency_ms_median"] == pytest.approx(100.0)
    table = format_table("set", rep, baseline={"name": "base", "top1": 1.0, "top10": 1.0, "mrr": 1.0})
    assert "q1" in table and "q2" in table and "base" in table
    assert "rank   -" in table  # the miss is shown as such


def test_dtw_baseline_parses_published_lists(tmp_path: Path):
    folder = tmp_path / "mir-qbsh"
    folder.mkdir()
    (folder / "baseline-dtw-dev.txt").write_text(
        "year2003_person00002_00012_manual.pv:\t00012\t00001\n"
        "year2003_person00002_00013_manual.pv:\t00001\t00013\n"
        "year2003_person00002_00014_manual.pv:\t00001\t00002\n"
    )
    base = dtw_baseline(data=tmp_path)
    assert base["top1"] == pytest.approx(1 / 3)
    assert base["mrr"] == pytest.approx((1 + 0.5 + 0) / 3)


DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.mark.skipif(not (DATA / "mir-qbsh").is_dir(), reason="needs ../shared/data")
def test_dtw_baseline_matches_published_figures():
    base = dtw_baseline()
    assert (round(base["top1"], 3), round(base["top10"], 3), round(base["mrr"], 3)) == (0.895, 1.0, 0.912)
    assert np.isfinite(base["mrr"])
