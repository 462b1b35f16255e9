"""PANNs Cnn14 (AudioSet tagging network) as an embedder: 2048-d vectors at 32 kHz.

The network comes from the panns-inference package, but that package is only half usable:
importing `panns_inference` runs its `config.py`, which downloads AudioSet's label CSV into
`~/panns_data` with `wget` at import time, and its `AudioTagging` wrapper re-downloads (with
`wget -O`, truncating the file when that fails) any checkpoint smaller than 300 MB. So this
module never imports the `panns_inference` package: it executes only `panns_inference/models.py`
(which needs torch, torchlibrosa and matplotlib, nothing from the network) under a private
package name, builds `Cnn14` itself and loads the checkpoint's `model` state dict here.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
import threading
import types
from pathlib import Path
from typing import Any

import numpy as np
import torch

from humsearch.constants import PANNS_DIMS, PANNS_SAMPLE_RATE
from humsearch.embedders.base import Embedder, l2_normalize
from humsearch.errors import ModelNotFoundError

CHECKPOINT_NAME = "Cnn14_mAP=0.431.pth"
CHECKPOINT_RECORD_URL = "https://zenodo.org/record/3987831"
CHECKPOINT_URL = f"{CHECKPOINT_RECORD_URL}/files/Cnn14_mAP%3D0.431.pth?download=1"

# Cnn14 as trained for the 32 kHz AudioSet checkpoint (values from the PANNs paper and repo).
CNN14_CONFIG = {
    "sample_rate": PANNS_SAMPLE_RATE,
    "window_size": 1024,  # STFT size, samples (32 ms)
    "hop_size": 320,  # samples (10 ms)
    "mel_bins": 64,
    "fmin": 50,  # Hz
    "fmax": 14_000,  # Hz
    "classes_num": 527,  # AudioSet classes
}
MIN_WINDOW_S = 1.0  # shorter windows are zero-padded: Cnn14 pools 32x in time (~0.3 s) and needs room
BATCH_SIZE = 8  # windows per forward pass; a 10 s window costs ~100 MB of activations

# Private name under which panns_inference/models.py is executed; it has no __init__ code.
_PACKAGE_ALIAS = "_humsearch_panns_inference"
_models_lock = threading.Lock()


def default_checkpoint_path(data_dir: str | Path | None = None) -> Path:
    """Where the Cnn14 checkpoint is expected when no path is given.

    Args:
        data_dir: humsearch data folder; None means the configured one
            (HUMSEARCH_DATA_DIR, else $XDG_DATA_HOME/humsearch or ~/.local/share/humsearch).

    Returns:
        `<data_dir>/models/Cnn14_mAP=0.431.pth`.
    """
    if data_dir is None:
        from humsearch.config import Config

        data_dir = Config.from_env().data_dir
    return Path(data_dir).expanduser() / "models" / CHECKPOINT_NAME


def _missing_message(path: Path) -> str:
    return (
        f"PANNs checkpoint not found: {path}\n"
        f"Download {CHECKPOINT_NAME} (about 330 MB) from {CHECKPOINT_RECORD_URL}\n"
        f"  (direct link: {CHECKPOINT_URL})\n"
        f"and save it as {path}\n"
        "or set HUMSEARCH_CHECKPOINT to the file's path."
    )


def panns_models_module() -> types.ModuleType:
    """`panns_inference/models.py`, executed without running `panns_inference/__init__.py`.

    The installed package folder is located with `find_spec` (which does not execute it) and
    registered under a private name whose `__path__` is that folder, so the relative import in
    models.py (`from .pytorch_utils import ...`) resolves without the package's `__init__`.

    Raises:
        ModelNotFoundError: panns-inference is not installed.
    """
    with _models_lock:
        name = f"{_PACKAGE_ALIAS}.models"
        if name in sys.modules:
            return sys.modules[name]
        spec = importlib.util.find_spec("panns_inference")
        if spec is None or not spec.submodule_search_locations:
            raise ModelNotFoundError(
                "the PANNs embedder needs the panns-inference package: pip install panns-inference==0.1.1"
            )
        package_dir = Path(list(spec.submodule_search_locations)[0])
        package = types.ModuleType(_PACKAGE_ALIAS, "panns_inference's folder, without its __init__")
        package.__path__ = [str(package_dir)]
        models_spec = importlib.util.spec_from_file_location(name, package_dir / "models.py")
        if models_spec is None or models_spec.loader is None:
            raise ModelNotFoundError(f"cannot load {package_dir / 'models.py'}")
        module = importlib.util.module_from_spec(models_spec)
        sys.modules[_PACKAGE_ALIAS] = package
        sys.modules[name] = module
        try:
            models_spec.loader.exec_module(module)
        except BaseException:
            del sys.modules[name]
            raise
        return module


def build_cnn14() -> torch.nn.Module:
    """A freshly initialized Cnn14 with the 32 kHz AudioSet configuration (CNN14_CONFIG)."""
    return panns_models_module().Cnn14(**CNN14_CONFIG)


def save_random_checkpoint(path: str | Path, *, seed: int = 0) -> Path:
    """Write a randomly initialized Cnn14 in the released checkpoint's layout ({"model": state_dict}).

    For tests and benchmarks: the real weights cannot be downloaded everywhere, and a random
    network of the same architecture costs exactly the same to run.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with torch.random.fork_rng(devices=[]):  # leave the caller's random state alone
        torch.manual_seed(seed)
        model = build_cnn14()
    torch.save({"iteration": 0, "model": model.state_dict()}, path)
    return path


def _numpy_safe_globals() -> list[Any]:
    """Globals a numpy array or scalar needs when unpickled: data only, no code paths.

    Training checkpoints from the PANNs repo may carry the data sampler's state (numpy arrays)
    next to the model; these let `weights_only=True` read them. Files written with numpy 1.x
    name the module `numpy.core.multiarray`, numpy 2 writes `numpy._core.multiarray`.
    """
    from numpy._core import multiarray

    allowed: list[Any] = [np.ndarray, np.dtype, multiarray._reconstruct, multiarray.scalar]
    allowed += [
        (multiarray._reconstruct, "numpy.core.multiarray._reconstruct"),
        (multiarray.scalar, "numpy.core.multiarray.scalar"),
    ]
    # numpy 2 pickles a dtype by its class (numpy.dtypes.Float32DType, ...).
    for code in "?bBhHiIlLqQefdgFDG":
        allowed.append(type(np.dtype(code)))
    return allowed


def _read_state_dict(path: Path, *, device: str) -> dict[str, torch.Tensor]:
    """The `model` state dict of a checkpoint, read with `weights_only=True` (no code execution).

    Raises:
        ModelNotFoundError: the file is unreadable, refused by the safe unpickler, or has no
            `model` entry.
    """
    if path.stat().st_size == 0:
        raise ModelNotFoundError(f"PANNs checkpoint {path} is empty (a failed download?).\n" + _missing_message(path))
    try:
        with torch.serialization.safe_globals(_numpy_safe_globals()):
            checkpoint = torch.load(path, map_location=device, weights_only=True)
    except Exception as e:
        raise ModelNotFoundError(
            f"cannot read PANNs checkpoint {path} with torch.load(weights_only=True): {e}\n"
            f"A truncated or foreign file? The expected one is {CHECKPOINT_NAME} from {CHECKPOINT_RECORD_URL}"
        ) from e
    state = checkpoint.get("model") if isinstance(checkpoint, dict) else None
    if not isinstance(state, dict):
        keys = sorted(checkpoint) if isinstance(checkpoint, dict) else type(checkpoint).__name__
        raise ModelNotFoundError(f"PANNs checkpoint {path} has no 'model' state dict (found: {keys})")
    return state


def file_version(path: Path) -> str:
    """`<file name>-<first 12 hex digits of its sha256>`: changes whenever the weights do."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return f"{path.name}-{digest.hexdigest()[:12]}"


class PannsEmbedder(Embedder):
    """Cnn14's 2048-d `embedding` output for each window, L2-normalized.

    Build it with `PannsEmbedder.load`; the constructor takes an already loaded network.
    """

    name = "panns"
    sample_rate = PANNS_SAMPLE_RATE
    dims = PANNS_DIMS

    def __init__(self, model: torch.nn.Module, *, version: str, device: str = "cpu",
                 batch_size: int = BATCH_SIZE) -> None:
        self.model = model.to(device).eval()
        self.version = version
        self.device = device
        self.batch_size = batch_size

    @classmethod
    def load(cls, checkpoint: str | Path | None = None, *, device: str = "cpu") -> PannsEmbedder:
        """Load Cnn14 weights from a checkpoint file.

        Args:
            checkpoint: path of `Cnn14_mAP=0.431.pth` (or any checkpoint holding a Cnn14 32 kHz
                `model` state dict); None means `default_checkpoint_path()`.
            device: torch device string.

        Raises:
            ModelNotFoundError: the file is missing or unreadable, or its weights do not fit
                Cnn14 (the message says where to download the right file).
        """
        path = Path(checkpoint).expanduser() if checkpoint is not None else default_checkpoint_path()
        if not path.is_file():
            raise ModelNotFoundError(_missing_message(path))
        state = _read_state_dict(path, device=device)
        model = build_cnn14()
        try:
            model.load_state_dict(state, strict=True)
        except RuntimeError as e:
            raise ModelNotFoundError(
                f"{path} does not hold Cnn14 weights for 32 kHz audio ({CHECKPOINT_NAME}): {e}"
            ) from e
        return cls(model, version=file_version(path), device=device)

    def embed(self, windows: list[np.ndarray]) -> np.ndarray:
        """Embed mono windows at 32 kHz; windows shorter than 1 s are zero-padded to 1 s.

        Windows of equal length share a forward pass (the last window of a song or a short
        query never gets padded to its neighbours' length, which would change its embedding).

        Returns:
            (len(windows), 2048) float32, rows L2-normalized.
        """
        min_len = int(MIN_WINDOW_S * self.sample_rate)
        prepared = []
        for i, window in enumerate(windows):
            window = np.asarray(window, dtype=np.float32)
            if window.ndim != 1:
                raise ValueError(f"window {i} must be 1-D mono audio, got shape {window.shape}")
            if len(window) < min_len:
                window = np.pad(window, (0, min_len - len(window)))
            prepared.append(window)

        out = np.zeros((len(prepared), self.dims), dtype=np.float32)
        by_length: dict[int, list[int]] = {}
        for i, window in enumerate(prepared):
            by_length.setdefault(len(window), []).append(i)
        with torch.inference_mode():
            for indices in by_length.values():
                for start in range(0, len(indices), self.batch_size):
                    chunk = indices[start : start + self.batch_size]
                    batch = torch.from_numpy(np.stack([prepared[i] for i in chunk])).to(self.device)
                    out[chunk] = self.model(batch)["embedding"].float().cpu().numpy()
        return l2_normalize(out)


__all__ = [
    "CHECKPOINT_NAME",
    "CHECKPOINT_URL",
    "PannsEmbedder",
    "build_cnn14",
    "default_checkpoint_path",
    "panns_models_module",
    "save_random_checkpoint",
]
