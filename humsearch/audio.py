"""Loading and checking audio, and finding audio files in folders."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

import numpy as np
import soundfile as sf

from humsearch.constants import AUDIO_EXTENSIONS, MIN_QUERY_S, SILENCE_RMS
from humsearch.errors import HumSearchError, InvalidAudioError, SilentAudioError

AudioSource = str | os.PathLike[str] | bytes | BinaryIO

FFMPEG_TIMEOUT_S = 300  # a whole album in one file decodes well within this


def load_audio(src: AudioSource, *, sr: int) -> np.ndarray:
    """Decode audio to mono float32 at `sr` Hz, scaled down if it peaks above full scale.

    soundfile (libsndfile) reads wav, flac, ogg, aiff and mp3; anything it cannot read
    (m4a, opus in mp4, ...) goes through ffmpeg when it is installed.

    Args:
        src: a path, the raw bytes of a file, or a binary file object (e.g. an upload).
        sr: target sample rate in Hz.

    Returns:
        1-D float32 array with peak |x| <= 1.

    Raises:
        InvalidAudioError: the data cannot be decoded, holds no samples or non-finite ones;
            the message names the file.
    """
    name = _source_name(src)
    if isinstance(src, bytes):
        src = io.BytesIO(src)
    try:
        audio, native_sr = _read_soundfile(src)
    except (sf.LibsndfileError, RuntimeError, TypeError) as sf_error:
        if isinstance(src, (str, os.PathLike)) and not Path(src).is_file():
            raise InvalidAudioError(f"{name}: file not found") from sf_error
        audio, native_sr = _read_ffmpeg(src, sr=sr, name=name, first_error=str(sf_error))

    if audio.size == 0:
        raise InvalidAudioError(f"{name}: no audio samples")
    if not np.all(np.isfinite(audio)):
        raise InvalidAudioError(f"{name}: audio holds NaN or infinite samples")
    if native_sr != sr:
        import soxr  # librosa's resampler; imported here so listing files stays light

        audio = soxr.resample(audio, native_sr, sr, quality="HQ").astype(np.float32)
    peak = float(np.max(np.abs(audio)))
    if peak > 1.0:
        audio = audio / peak
    return np.ascontiguousarray(audio, dtype=np.float32)


def _source_name(src: AudioSource) -> str:
    if isinstance(src, (str, os.PathLike)):
        return str(src)
    return str(getattr(src, "name", None) or "<audio data>")


def _read_soundfile(src: str | os.PathLike[str] | BinaryIO) -> tuple[np.ndarray, int]:
    """Mono float32 samples and the file's own rate, via libsndfile."""
    data, native_sr = sf.read(src, dtype="float32", always_2d=True)
    return data.mean(axis=1), int(native_sr)


def _read_ffmpeg(
    src: str | os.PathLike[str] | BinaryIO, *, sr: int, name: str, first_error: str
) -> tuple[np.ndarray, int]:
    """Decode with the ffmpeg command line straight to mono float32 at `sr`."""
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        raise InvalidAudioError(f"{name}: cannot decode ({first_error}); installing ffmpeg adds mp3/m4a/opus support")
    if isinstance(src, (str, os.PathLike)):
        return _run_ffmpeg(ffmpeg, str(src), sr=sr, name=name), sr
    # Containers such as m4a keep their index at the end, so ffmpeg needs a seekable file, not a pipe.
    src.seek(0)
    with tempfile.NamedTemporaryFile(suffix=Path(name).suffix or ".audio") as tmp:
        shutil.copyfileobj(src, tmp)
        tmp.flush()
        return _run_ffmpeg(ffmpeg, tmp.name, sr=sr, name=name), sr


def _run_ffmpeg(ffmpeg: str, path: str, *, sr: int, name: str) -> np.ndarray:
    cmd = [ffmpeg, "-nostdin", "-v", "error", "-i", path, "-vn", "-ac", "1", "-ar", str(sr), "-f", "f32le", "-"]
    try:
        proc = subprocess.run(cmd, capture_output=True, timeout=FFMPEG_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired as e:
        raise InvalidAudioError(f"{name}: decoding took longer than {FFMPEG_TIMEOUT_S} s") from e
    if proc.returncode != 0:
        lines = proc.stderr.decode(errors="replace").strip().splitlines()
        reason = lines[-1].removeprefix(f"{path}: ") if lines else "ffmpeg failed"
        raise InvalidAudioError(f"{name}: cannot decode ({reason})")
    return np.frombuffer(proc.stdout, dtype="<f4").astype(np.float32)


def check_query(audio: np.ndarray, sr: int) -> None:
    """Refuse a query that cannot carry a melody.

    Raises:
        SilentAudioError: the recording holds no sound (RMS below SILENCE_RMS).
        InvalidAudioError: the recording is shorter than MIN_QUERY_S.
    """
    rms = float(np.sqrt(np.mean(np.square(audio, dtype=np.float64)))) if audio.size else 0.0
    if rms < SILENCE_RMS:
        raise SilentAudioError(
            "no sound in the recording: check that the microphone is on and hum a little louder"
        )
    duration = audio.size / sr
    if duration < MIN_QUERY_S:
        raise InvalidAudioError(
            f"the recording is {duration:.1f} s long; hum for at least {MIN_QUERY_S:g} s"
        )


def find_audio_files(
    roots: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
    *,
    extensions: Iterable[str] = AUDIO_EXTENSIONS,
) -> Iterator[Path]:
    """Audio files under the given folders, recursively, in sorted order.

    Extensions match case-insensitively; hidden files and folders (".name") are skipped.
    A root that is itself an audio file is yielded as is.

    Args:
        roots: one folder or several.
        extensions: accepted file name endings, with the dot.

    Raises:
        HumSearchError: a root does not exist.
    """
    if isinstance(roots, (str, os.PathLike)):
        roots = [roots]
    exts = tuple(e.lower() for e in extensions)
    for root in map(Path, roots):
        if root.is_file():
            if root.name.lower().endswith(exts):
                yield root
            continue
        if not root.is_dir():
            raise HumSearchError(f"music folder not found: {root}")
        for dirpath, dirnames, filenames in os.walk(root):
            # Sorting in place also fixes the order os.walk descends in.
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            for filename in sorted(filenames):
                if not filename.startswith(".") and filename.lower().endswith(exts):
                    yield Path(dirpath) / filename


def song_title(path: str | os.PathLike[str]) -> str:
    """The title tag ("Artist - Title" when both are tagged), else the file name without extension."""
    import mutagen  # only the indexer needs tags

    try:
        tags = mutagen.File(path, easy=True)
    except Exception:  # mutagen raises many types for odd files; a title is never worth failing for
        tags = None
    if tags is not None and tags.tags is not None:
        title = _first(tags.get("title"))
        artist = _first(tags.get("artist"))
        if title:
            return f"{artist} - {title}" if artist else title
    return Path(path).stem


def _first(values: list[str] | None) -> str:
    return values[0].strip() if values else ""
