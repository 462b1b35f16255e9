"""PANNs Cnn14 embedder: real loading code on a generated checkpoint of the real architecture."""

from __future__ import annotations

import hashlib
import io
import json
import os
import pathlib
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from humsearch.embedders import load_embedder
from humsearch.embedders.panns import (
    CHECKPOINT_NAME,
    CHECKPOINT_RECORD_URL,
    PannsEmbedder,
    _read_state_dict,
    default_checkpoint_path,
    file_version,
    save_random_checkpoint,
)
from humsearch.errors import ModelNotFoundError

SR = 32_000
REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory):
    # ~330 MB, like the real file: delete it as soon as the module is done.
    path = save_random_checkpoint(tmp_path_factory.mktemp("panns") / "cnn14-random.pth", seed=0)
    yield path
    path.unlink()


@pytest.fixture(scope="module")
def embedder(checkpoint: Path) -> PannsEmbedder:
    return PannsEmbedder.load(checkpoint)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


def tone(freq: float, seconds: float) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    return (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def test_load_through_registry_sets_attributes(checkpoint: Path) -> None:
    emb = load_embedder("panns", checkpoint=checkpoint)
    sha = hashlib.sha256(checkpoint.read_bytes()).hexdigest()
    assert isinstance(emb, PannsEmbedder)
    assert (emb.name, emb.sample_rate, emb.dims) == ("panns", 32_000, 2048)
    assert emb.version == f"{checkpoint.name}-{sha[:12]}"
    assert not emb.model.training


def test_weights_come_from_the_checkpoint(embedder: PannsEmbedder, checkpoint: Path) -> None:
    saved = torch.load(checkpoint, weights_only=True)["model"]
    loaded = embedder.model.state_dict()
    assert loaded.keys() == saved.keys()
    for key, value in saved.items():
        assert torch.equal(loaded[key], value), key


def test_version_follows_file_content(tmp_path: Path) -> None:
    a, b = tmp_path / "a" / CHECKPOINT_NAME, tmp_path / "b" / CHECKPOINT_NAME
    for path, content in ((a, b"weights one"), (b, b"weights two")):
        path.parent.mkdir()
        path.write_bytes(content)
    assert file_version(a).startswith(CHECKPOINT_NAME + "-")
    assert file_version(a) != file_version(b)
    assert file_version(a) == file_version(a)


def test_embed_shapes_dtype_and_unit_norms(embedder: PannsEmbedder, rng: np.random.Generator) -> None:
    windows = [tone(440, 2.0), 0.1 * rng.standard_normal(SR).astype(np.float32), tone(220, 0.3)]
    vectors = embedder.embed(windows)
    assert vectors.shape == (3, 2048)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert embedder.embed([]).shape == (0, 2048)


def test_embed_is_deterministic_and_independent_of_batching(
    embedder: PannsEmbedder, rng: np.random.Generator
) -> None:
    windows = [tone(330, 1.5), 0.1 * rng.standard_normal(int(1.5 * SR)).astype(np.float32), tone(500, 1.0)]
    first = embedder.embed(windows)
    np.testing.assert_array_equal(first, embedder.embed(windows))

    small_batches = PannsEmbedder(embedder.model, version=embedder.version, batch_size=1)
    one_by_one = np.concatenate([small_batches.embed([w]) for w in windows])
    np.testing.assert_allclose(first, one_by_one, atol=1e-5)


def test_different_audio_gives_different_vectors(embedder: PannsEmbedder, rng: np.random.Generator) -> None:
    a, b = embedder.embed([tone(220, 1.0), 0.3 * rng.standard_normal(SR).astype(np.float32)])
    assert float(a @ b) < 0.999


def test_short_window_is_zero_padded_to_one_second(embedder: PannsEmbedder) -> None:
    short = tone(440, 0.25)
    padded = np.pad(short, (0, SR - len(short)))
    np.testing.assert_allclose(embedder.embed([short]), embedder.embed([padded]), atol=1e-6)


def test_embed_rejects_multichannel_windows(embedder: PannsEmbedder) -> None:
    with pytest.raises(ValueError, match="1-D"):
        embedder.embed([np.zeros((2, SR), dtype=np.float32)])


def test_missing_checkpoint_says_where_to_get_it(tmp_path: Path) -> None:
    path = tmp_path / "models" / CHECKPOINT_NAME
    with pytest.raises(ModelNotFoundError) as info:
        PannsEmbedder.load(path)
    message = str(info.value)
    assert CHECKPOINT_RECORD_URL in message
    assert str(path) in message
    assert "HUMSEARCH_CHECKPOINT" in message


def test_default_checkpoint_lives_in_the_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HUMSEARCH_DATA_DIR", str(tmp_path))
    expected = tmp_path / "models" / CHECKPOINT_NAME
    assert default_checkpoint_path() == expected
    with pytest.raises(ModelNotFoundError, match=str(expected)):
        PannsEmbedder.load()


def test_empty_file_is_reported_as_failed_download(tmp_path: Path) -> None:
    path = tmp_path / CHECKPOINT_NAME
    path.write_bytes(b"")
    with pytest.raises(ModelNotFoundError, match=r"is empty \(a failed download\?\)"):
        PannsEmbedder.load(path)


def test_truncated_file_is_refused(checkpoint: Path, tmp_path: Path) -> None:
    path = tmp_path / CHECKPOINT_NAME
    with checkpoint.open("rb") as f:
        path.write_bytes(f.read(1 << 20))
    with pytest.raises(ModelNotFoundError, match="cannot read"):
        PannsEmbedder.load(path)


def test_weights_of_another_network_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.pth"
    torch.save({"model": {"fc.weight": torch.zeros(3, 3)}}, path)
    with pytest.raises(ModelNotFoundError, match="does not hold Cnn14"):
        PannsEmbedder.load(path)


def test_checkpoint_without_model_entry_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "bare.pth"
    torch.save({"state_dict": {"w": torch.zeros(1)}}, path)
    with pytest.raises(ModelNotFoundError, match="no 'model'"):
        PannsEmbedder.load(path)


class _RunsCode:
    """Unpickling this calls Path.touch(marker): what a malicious checkpoint could do."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (pathlib.Path.touch, (self.marker,))


def test_checkpoint_that_runs_code_is_refused_unexecuted(tmp_path: Path) -> None:
    marker = tmp_path / "executed"
    path = tmp_path / "evil.pth"
    torch.save({"model": {"w": torch.zeros(1)}, "payload": _RunsCode(marker)}, path)
    with pytest.raises(ModelNotFoundError, match="weights_only"):
        _read_state_dict(path, device="cpu")
    assert not marker.exists()


def test_training_checkpoint_with_numpy_sampler_state_loads(tmp_path: Path) -> None:
    # The PANNs training script saves {'iteration', 'model', 'sampler'}, the sampler state holding
    # numpy arrays; released files predate numpy 2 and torch's zip format. Emulate such a file:
    # the legacy format, with numpy 1.x's module name for array reconstruction.
    state = {"fc.weight": torch.arange(6.0).reshape(2, 3)}
    sampler = {
        "indexes_per_class": [np.arange(5), np.arange(3, dtype=np.int32)],
        "queue": [np.int64(4), 7],
        "pointers_of_classes": [0, 2],
        "random_state": np.random.RandomState(0).get_state(),
    }
    buffer = io.BytesIO()
    torch.save({"iteration": 600_000, "model": state, "sampler": sampler}, buffer, _use_new_zipfile_serialization=False)
    raw = buffer.getvalue()
    assert b"numpy._core.multiarray\n" in raw  # protocol-2 GLOBAL opcodes: plain text, safe to rename
    path = tmp_path / CHECKPOINT_NAME
    path.write_bytes(raw.replace(b"numpy._core.multiarray\n", b"numpy.core.multiarray\n"))

    loaded = _read_state_dict(path, device="cpu")
    assert loaded.keys() == state.keys()
    assert torch.equal(loaded["fc.weight"], state["fc.weight"])


_OFFLINE_PROBE = textwrap.dedent(
    """
    import json, os, socket, subprocess, sys
    from pathlib import Path

    calls = []
    def refuse(what):
        def blocked(*args, **kwargs):
            calls.append(what)
            raise OSError(what + " blocked by test")
        return blocked
    socket.socket.connect = refuse("socket.connect")
    socket.socket.connect_ex = refuse("socket.connect_ex")
    socket.getaddrinfo = refuse("getaddrinfo")
    os.system = refuse("os.system")  # how panns_inference runs wget
    os.popen = refuse("os.popen")
    # torch (ldconfig) and matplotlib (fc-list) start local helpers; downloaders are refused.
    popen_init = subprocess.Popen.__init__
    def popen_unless_download(self, args, *rest, **kwargs):
        if any(tool in str(args) for tool in ("wget", "curl")):
            refuse("subprocess " + str(args))()
        return popen_init(self, args, *rest, **kwargs)
    subprocess.Popen.__init__ = popen_unless_download

    home = Path.home()
    import humsearch.embedders.panns as panns
    after_import = sorted(str(p.relative_to(home)) for p in home.rglob("*"))

    emb = panns.PannsEmbedder.load(sys.argv[1])
    vectors = emb.embed([[0.0] * 32000])
    print(json.dumps({
        "home": str(home),
        "after_import": after_import,
        "panns_data": (home / "panns_data").exists(),
        "package_imported": "panns_inference" in sys.modules,
        "calls": calls,
        "shape": list(vectors.shape),
    }))
    """
)


@pytest.mark.slow
def test_import_and_load_stay_offline(checkpoint: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    env = {**os.environ, "HOME": str(home), "PYTHONPATH": str(REPO_ROOT)}
    for var in ("XDG_DATA_HOME", "XDG_CACHE_HOME", "XDG_CONFIG_HOME"):
        env.pop(var, None)
    done = subprocess.run(
        [sys.executable, "-c", _OFFLINE_PROBE, str(checkpoint)],
        env=env, capture_output=True, text=True, timeout=300, check=False,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["home"] == str(home)
    assert report["after_import"] == []  # importing our module creates nothing in HOME
    assert report["calls"] == []  # no network, no wget
    assert not report["panns_data"]
    assert not report["package_imported"]  # panns_inference/__init__.py never ran
    assert report["shape"] == [1, 2048]
