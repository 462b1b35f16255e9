"""Audio loading, query checks, folder walking and titles."""

from __future__ import annotations

import io
import shutil
import subprocess
import types
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from humsearch.audio import check_query, find_audio_files, load_audio, song_title
from humsearch.constants import MIN_QUERY_S
from humsearch.errors import HumSearchError, InvalidAudioError, SilentAudioError
from toy import write_audio

needs_ffmpeg = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg not installed")


def sine(freq: float, seconds: float, sr: int, amp: float = 0.5) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def dominant_hz(audio: np.ndarray, sr: int) -> float:
    spectrum = np.abs(np.fft.rfft(audio))
    return float(np.fft.rfftfreq(len(audio), 1 / sr)[np.argmax(spectrum)])


def test_stereo_is_mixed_to_mono_and_resampled(tmp_path: Path) -> None:
    left, right = sine(440, 1.0, 44_100), sine(440, 1.0, 44_100, amp=0.1)
    path = write_audio(tmp_path / "s.wav", np.stack([left, right], axis=1), sr=44_100)
    audio = load_audio(path, sr=16_000)
    assert audio.dtype == np.float32 and audio.ndim == 1
    assert len(audio) == 16_000
    assert dominant_hz(audio, 16_000) == pytest.approx(440, abs=2)
    assert np.max(np.abs(audio)) == pytest.approx(0.3, abs=0.02)  # the mean of the two channels


def test_loud_audio_is_scaled_to_full_scale(tmp_path: Path) -> None:
    path = tmp_path / "loud.wav"
    sf.write(path, sine(220, 0.5, 8000, amp=3.0), 8000, subtype="FLOAT")
    audio = load_audio(path, sr=8000)
    assert np.max(np.abs(audio)) == pytest.approx(1.0)


def test_bytes_and_file_objects_load_like_paths(tmp_path: Path) -> None:
    path = write_audio(tmp_path / "x.flac", sine(330, 1.0, 8000), sr=8000)
    from_path = load_audio(path, sr=8000)
    np.testing.assert_allclose(load_audio(path.read_bytes(), sr=8000), from_path)
    with open(path, "rb") as f:
        np.testing.assert_allclose(load_audio(f, sr=8000), from_path)


@needs_ffmpeg
@pytest.mark.parametrize("suffix", [".m4a", ".mp3"])
def test_compressed_formats_decode(tmp_path: Path, suffix: str) -> None:
    wav = write_audio(tmp_path / "x.wav", sine(523.25, 2.0, 16_000), sr=16_000)
    encoded = tmp_path / f"x{suffix}"
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(wav), str(encoded)], check=True)
    for src in (encoded, io.BytesIO(encoded.read_bytes())):
        audio = load_audio(src, sr=16_000)
        assert abs(len(audio) / 16_000 - 2.0) < 0.1  # encoders pad a few ms
        assert dominant_hz(audio, 16_000) == pytest.approx(523.25, abs=2)


def test_undecodable_file_names_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "song.wav"
    bad.write_text("not audio")
    with pytest.raises(InvalidAudioError, match=r"song\.wav: cannot decode"):
        load_audio(bad, sr=8000)
    with pytest.raises(InvalidAudioError, match="file not found"):
        load_audio(tmp_path / "missing.wav", sr=8000)


def test_decoder_missing_is_explained(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    bad = tmp_path / "song.m4a"
    bad.write_bytes(b"\x00\x00\x00\x18ftypM4A ")
    with pytest.raises(InvalidAudioError, match="installing ffmpeg"):
        load_audio(bad, sr=8000)


def test_empty_audio_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "empty.wav"
    sf.write(path, np.zeros(0, np.float32), 8000)
    with pytest.raises(InvalidAudioError, match="no audio samples"):
        load_audio(path, sr=8000)


def test_check_query() -> None:
    sr = 8000
    check_query(sine(200, MIN_QUERY_S + 0.5, sr, amp=0.05), sr)  # quiet but audible is fine
    with pytest.raises(SilentAudioError, match="no sound"):
        check_query(np.zeros(5 * sr, np.float32), sr)
    with pytest.raises(SilentAudioError):
        check_query(np.zeros(0, np.float32), sr)
    with pytest.raises(InvalidAudioError, match="at least") as excinfo:
        check_query(sine(200, MIN_QUERY_S / 2, sr), sr)
    assert not isinstance(excinfo.value, SilentAudioError)


def test_find_audio_files(tmp_path: Path) -> None:
    for name in ("b/z.MP3", "b/a.flac", "a.Wav", "c/d/e.ogg", "notes.txt", ".hidden/x.wav", "b/.y.wav", "m.wav.bak"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).touch()
    found = find_audio_files(tmp_path)
    assert isinstance(found, types.GeneratorType)
    assert [p.relative_to(tmp_path).as_posix() for p in found] == ["a.Wav", "b/a.flac", "b/z.MP3", "c/d/e.ogg"]
    assert list(find_audio_files([tmp_path / "c", tmp_path / "a.Wav"])) == [tmp_path / "c/d/e.ogg", tmp_path / "a.Wav"]
    with pytest.raises(HumSearchError, match="not found"):
        list(find_audio_files(tmp_path / "nope"))


def test_song_title_from_tags_or_file_name(tmp_path: Path) -> None:
    from mutagen.flac import FLAC

    tagged = write_audio(tmp_path / "track01.flac", sine(440, 0.2, 8000), sr=8000)
    tags = FLAC(tagged)
    tags["title"], tags["artist"] = "Greensleeves", "Anon"
    tags.save()
    assert song_title(tagged) == "Anon - Greensleeves"
    assert song_title(write_audio(tmp_path / "My Song.wav", sine(440, 0.2, 8000), sr=8000)) == "My Song"
    (tmp_path / "junk.mp3").write_bytes(b"\xff\xfb junk")
    assert song_title(tmp_path / "junk.mp3") == "junk"
