"""One exception family: the CLI and the UI turn these into readable messages."""


class HumSearchError(Exception):
    """Root of every error humsearch raises on purpose."""


class ConfigError(HumSearchError):
    """A setting (environment variable or flag) with an unusable value."""


class InvalidAudioError(HumSearchError):
    """Audio that cannot be decoded or is unusable (empty, silent, too short)."""


class SilentAudioError(InvalidAudioError):
    """Audio that decodes but holds no sound worth searching."""


class ModelNotFoundError(HumSearchError):
    """A model checkpoint is missing or unreadable."""


class IndexMismatchError(HumSearchError):
    """An index was built by another embedder, model version or vector size."""


class IndexNotFoundError(HumSearchError):
    """The index does not exist yet."""


class BackendUnavailableError(HumSearchError):
    """The search backend cannot be reached (the message names its URL)."""
