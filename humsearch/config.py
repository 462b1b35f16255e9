"""Settings in one place: environment variables with defaults, overridden by CLI flags.

Every setting has an environment variable (see ENV_VARS and the README's Configuration table);
the CLI and the app build a Config with `Config.from_env(**flags)` and pass it down explicitly.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from humsearch.errors import ConfigError

BACKENDS = ("local", "elasticsearch")

# Config field -> environment variable it is read from.
ENV_VARS = {
    "backend": "HUMSEARCH_BACKEND",
    "es_url": "HUMSEARCH_ES_URL",
    "es_api_key": "HUMSEARCH_ES_API_KEY",
    "es_user": "HUMSEARCH_ES_USER",
    "es_password": "HUMSEARCH_ES_PASSWORD",
    "es_ca_cert": "HUMSEARCH_ES_CA_CERT",
    "index": "HUMSEARCH_INDEX",
    "embedder": "HUMSEARCH_EMBEDDER",
    "checkpoint": "HUMSEARCH_CHECKPOINT",
    "window_s": "HUMSEARCH_WINDOW_S",
    "hop_s": "HUMSEARCH_HOP_S",
    "music_dirs": "HUMSEARCH_MUSIC_DIRS",
    "data_dir": "HUMSEARCH_DATA_DIR",
    "rerank": "HUMSEARCH_RERANK",
    "threads": "HUMSEARCH_THREADS",
}
TRUE_WORDS = ("1", "true", "yes", "on")
FALSE_WORDS = ("0", "false", "no", "off")


def default_data_dir(env: Mapping[str, str]) -> Path:
    """$XDG_DATA_HOME/humsearch, or ~/.local/share/humsearch when XDG_DATA_HOME is unset."""
    base = env.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base).expanduser() / "humsearch"


@dataclass(frozen=True)
class Config:
    """Everything that can be configured. Build it with `Config.from_env`.

    Attributes:
        backend: "local" (embedded index in data_dir) or "elasticsearch".
        es_url: Elasticsearch URL.
        es_api_key: API key (takes precedence over user/password).
        es_user: basic-auth user name.
        es_password: basic-auth password.
        es_ca_cert: CA certificate file for HTTPS.
        index: index name; None means `humsearch-<embedder>`.
        embedder: embedder name (see humsearch.embedders.EMBEDDERS).
        checkpoint: weights file; None means the embedder's default.
        window_s: segment length in seconds; None keeps the embedder's default.
        hop_s: seconds between segment starts; None keeps the embedder's default.
        music_dirs: folders indexed when no folder is given.
        data_dir: where local indexes and the demo catalog live.
        rerank: re-order the best kNN candidates by melody alignment (when the embedder gives
            melody contours; the melody embedder does, PANNs does not).
        threads: torch intra-op threads for the embedder (torch.set_num_threads).
    """

    data_dir: Path
    backend: str = "local"
    es_url: str = "http://localhost:9200"
    es_api_key: str | None = field(default=None, repr=False)  # secrets stay out of logs
    es_user: str | None = None
    es_password: str | None = field(default=None, repr=False)
    es_ca_cert: str | None = None
    index: str | None = None
    embedder: str = "melody"
    checkpoint: str | None = None
    window_s: float | None = None
    hop_s: float | None = None
    music_dirs: tuple[str, ...] = ()
    rerank: bool = True
    # One thread by default: on the 2-core development machine under load, two torch threads wait
    # on each other. Melody model, 10 s query: 25 ms with 1 thread, 680 ms with 2; PANNs: 732 ms
    # with 1, 1.42 s with 2 (benchmarks/README.md).
    threads: int = 1

    def __post_init__(self) -> None:
        if self.backend not in BACKENDS:
            raise ConfigError(f"unknown backend {self.backend!r}; choose one of: {', '.join(BACKENDS)}")
        for name in ("window_s", "hop_s"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise ConfigError(f"{name} must be a positive number of seconds, got {value!r}")
        if isinstance(self.threads, bool) or not isinstance(self.threads, int) or self.threads < 1:
            raise ConfigError(f"threads must be a positive whole number, got {self.threads!r}")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> Config:
        """Read settings from the environment, then apply overrides (None values are ignored).

        Args:
            env: environment to read; defaults to os.environ.
            **overrides: Config field values, e.g. from CLI flags.

        Raises:
            ConfigError: an unknown override, or a value that does not parse.
        """
        env = os.environ if env is None else env
        known = {f.name for f in fields(cls)}
        unknown = set(overrides) - known
        if unknown:
            raise ConfigError(f"unknown setting(s): {', '.join(sorted(unknown))}")

        values: dict[str, Any] = {"data_dir": default_data_dir(env)}
        for name, var in ENV_VARS.items():
            raw = env.get(var)
            if raw not in (None, ""):
                values[name] = _parse(name, raw, source=var)
        for name, value in overrides.items():
            if value is not None:
                values[name] = _parse(name, value, source=f"--{name.replace('_', '-')}")
        return cls(**values)

    @property
    def index_name(self) -> str:
        """The index (an alias on Elasticsearch, a folder locally) this config reads and writes."""
        return self.index or f"humsearch-{self.embedder}"

    @property
    def local_index_dir(self) -> Path:
        """Folder of the local backend's index."""
        return self.data_dir / "indexes" / self.index_name

    @property
    def demo_catalog_dir(self) -> Path:
        """Folder the demo catalog is rendered into."""
        return self.data_dir / "demo-catalog"


def _parse(name: str, value: Any, *, source: str) -> Any:
    """Convert an env string (or a CLI value) to the type of field `name`."""
    try:
        if name in ("window_s", "hop_s"):
            return float(value)
        if name == "threads":
            return _parse_int(value)
        if name == "rerank":
            return _parse_bool(value)
        if name == "data_dir":
            return Path(value).expanduser()
        if name == "music_dirs":
            parts = value.split(os.pathsep) if isinstance(value, str) else value
            return tuple(str(Path(p).expanduser()) for p in parts if p)
        return str(value)
    except (TypeError, ValueError) as e:
        raise ConfigError(f"{source}: cannot read {value!r} ({e})") from e


def _parse_int(value: Any) -> int:
    if isinstance(value, bool) or (not isinstance(value, (int, str))):
        raise TypeError(f"expected a whole number, got {type(value).__name__}")
    number = int(value)  # "2.5" and "two" raise ValueError
    if number < 1:
        raise ValueError("must be at least 1")
    return number


def _parse_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    word = str(value).strip().lower()
    if word in TRUE_WORDS or word in FALSE_WORDS:
        return word in TRUE_WORDS
    raise ValueError(f"expected one of {', '.join(TRUE_WORDS + FALSE_WORDS)}")
