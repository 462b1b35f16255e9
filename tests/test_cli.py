"""The command line: exit codes, output, --json, global flags."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import cli
from conftest import MusicFolder
from humsearch import embedders
from toy import SR, ToyEmbedder, write_audio

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def toy_setup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every run uses the toy embedder and a private data folder, whatever the machine's env says."""
    for var in ("HUMSEARCH_BACKEND", "HUMSEARCH_INDEX", "HUMSEARCH_MUSIC_DIRS", "HUMSEARCH_WINDOW_S",
                "HUMSEARCH_HOP_S", "HUMSEARCH_RERANK", "HUMSEARCH_THREADS"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HUMSEARCH_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("HUMSEARCH_EMBEDDER", "toy")
    monkeypatch.setattr(embedders, "load_embedder", lambda name, **kwargs: ToyEmbedder())


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_index_search_info(capsys, music: MusicFolder, tmp_path: Path) -> None:
    code, out, _ = run(capsys, "index", str(music.root))
    assert code == 0
    assert "3 added" in out and "0 failed" in out

    code, out, _ = run(capsys, "index", str(music.root), "--json")
    report = json.loads(out)
    assert code == 0 and (report["added"], report["unchanged"]) == (0, 3)

    query = write_audio(tmp_path / "query.wav", music.songs["alpha.wav"][2 * SR : 6 * SR])
    code, out, _ = run(capsys, "search", str(query), "--json", "--k", "2")
    result = json.loads(out)
    assert code == 0
    assert [h["rank"] for h in result["hits"]] == [1, 2]
    assert result["hits"][0]["title"] == "alpha"
    assert result["hits"][0]["start_s"] == pytest.approx(2.0)
    assert 0 <= result["hits"][0]["percent"] <= 100

    code, out, _ = run(capsys, "search", str(query))
    assert code == 0 and out.splitlines()[0].split()[:4] == ["1", "100.0%", "0:02-0:04", "alpha"]

    code, out, _ = run(capsys, "info", "--json")
    info = json.loads(out)
    assert code == 0
    assert (info["backend"], info["index"], info["embedder"], info["songs"], info["segments"]) == (
        "local", "humsearch-toy", "toy", 3, 21
    )


def test_failed_files_exit_1_after_the_summary(capsys, music: MusicFolder) -> None:
    (music.root / "broken.wav").write_text("nope")
    code, out, _ = run(capsys, "index", str(music.root))
    assert code == 1
    assert "3 added" in out and "1 failed" in out
    assert "broken.wav: cannot decode" in out


def test_errors_exit_2_with_a_message(capsys, tmp_path: Path) -> None:
    silent = write_audio(tmp_path / "silent.wav", [0.0] * (3 * SR))
    code, _, err = run(capsys, "search", str(silent))
    assert code == 2
    assert err.startswith("humsearch: error: no sound in the recording")

    loud = write_audio(tmp_path / "loud.wav", [0.5, -0.5] * (2 * SR))
    code, _, err = run(capsys, "search", str(loud))
    assert code == 2 and "does not exist yet" in err

    code, _, err = run(capsys, "index", str(tmp_path / "nowhere"))
    assert code == 2 and "not found" in err

    code, _, err = run(capsys, "index")
    assert code == 2 and "HUMSEARCH_MUSIC_DIRS" in err


def test_unreachable_elasticsearch_names_the_url(capsys) -> None:
    code, _, err = run(capsys, "info", "--backend", "elasticsearch", "--es-url", "http://127.0.0.1:9")
    assert code == 2
    assert "cannot reach Elasticsearch at http://127.0.0.1:9" in err


def test_flags_override_env_and_go_before_or_after_the_command(capsys, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HUMSEARCH_INDEX", "from-env")
    assert json.loads(run(capsys, "info", "--json")[1])["index"] == "from-env"
    assert json.loads(run(capsys, "--index", "before", "info", "--json")[1])["index"] == "before"
    assert json.loads(run(capsys, "info", "--index", "after", "--json")[1])["index"] == "after"


def test_no_rerank_flag_and_variable_reach_search(capsys, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import search

    asked = []
    monkeypatch.setattr(search, "search", lambda audio, **kwargs: asked.append(kwargs["rerank"]) or [])
    query = write_audio(tmp_path / "q.wav", [0.5, -0.5] * (2 * SR))
    assert run(capsys, "search", str(query))[0] == 0
    assert run(capsys, "search", str(query), "--no-rerank")[0] == 0
    monkeypatch.setenv("HUMSEARCH_RERANK", "off")
    assert run(capsys, "search", str(query))[0] == 0
    assert asked == [True, False, False]
    assert cli.build_parser().parse_args(["eval", "--no-rerank"]).rerank is False


def test_threads_flag_and_variable_reach_the_embedder(capsys, monkeypatch: pytest.MonkeyPatch,
                                                     music: MusicFolder) -> None:
    asked = []
    monkeypatch.setattr(embedders, "load_embedder",
                        lambda name, **kwargs: asked.append(kwargs["threads"]) or ToyEmbedder())
    assert run(capsys, "index", str(music.root))[0] == 0
    assert run(capsys, "index", str(music.root), "--threads", "2")[0] == 0
    monkeypatch.setenv("HUMSEARCH_THREADS", "3")
    assert run(capsys, "index", str(music.root))[0] == 0
    assert asked == [1, 2, 3]
    code, _, err = run(capsys, "index", str(music.root), "--threads", "0")
    assert code == 2 and "--threads" in err and "at least 1" in err


def test_usage_errors_exit_2(capsys) -> None:
    for argv in (["search", "q.wav", "--k", "0"], ["frobnicate"], ["--backend", "mysql", "info"], []):
        with pytest.raises(SystemExit) as excinfo:
            cli.main(argv)
        assert excinfo.value.code == 2


def test_help_is_instant_and_python_m_works() -> None:
    probe = (
        "import sys, cli\n"
        "try:\n    cli.main(['--help'])\nexcept SystemExit:\n    pass\n"
        "print(sorted({'torch', 'elasticsearch', 'librosa'} & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert out.strip().endswith("[]")
    proc = subprocess.run(
        [sys.executable, "-m", "humsearch", "search", "--help"], cwd=ROOT, capture_output=True, text=True
    )
    assert proc.returncode == 0 and "--json" in proc.stdout
