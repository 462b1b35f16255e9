"""The melody model: checkpoints that describe themselves, the shipped weights, and a
hum that finds the tune it imitates among distractors."""

import json
import os
from pathlib import Path

import numpy as np
import pretty_midi
import pytest
import soundfile as sf
import torch

from humsearch.constants import MELODY_SAMPLE_RATE, N_PITCH_BINS
from humsearch.embedders.melody import DEFAULT_CHECKPOINT, MelodyEmbedder
from humsearch.errors import ModelNotFoundError
from humsearch.melody.contour import CONTOUR_RATE, SONG_CANDIDATES, contour_from_salience
from humsearch.melody.model import MelodyModel, ModelDims, load_checkpoint, save_checkpoint
from humsearch.stores.local import LocalStore
from humsearch.synth.accompany import accompany
from humsearch.synth.hum import synthesize_hum
from humsearch.synth.render import render_midi
from indexer import index_folder
from search import search

ROOT = Path(__file__).resolve().parents[1]


def test_checkpoint_carries_its_shape(tmp_path: Path):
    dims = ModelDims(salience_channels=8, trunk_channels=(8, 8, 16, 16), embed_dims=32)
    model = MelodyModel(dims).eval()
    save_checkpoint(model, tmp_path / "m.pt", version="tiny-1")
    loaded, version = load_checkpoint(tmp_path / "m.pt")
    assert version == "tiny-1" and loaded.dims == dims
    x = torch.randn(1, 176, 120)
    with torch.inference_mode():
        assert torch.allclose(model(x), loaded(x), atol=1e-6)


def test_missing_or_foreign_checkpoint_is_a_clear_error(tmp_path: Path):
    with pytest.raises(ModelNotFoundError, match="not found"):
        load_checkpoint(tmp_path / "nope.pt")
    torch.save({"something": "else"}, tmp_path / "other.pt")
    with pytest.raises(ModelNotFoundError, match="not a usable melody checkpoint"):
        load_checkpoint(tmp_path / "other.pt")


def test_shipped_weights_load_and_match_the_mapping():
    embedder = MelodyEmbedder.load()
    assert DEFAULT_CHECKPOINT.stat().st_size < 20e6
    assert embedder.version.startswith("melody-")
    mapping = json.loads((ROOT / "es_mappings" / "melody.json").read_text())
    assert embedder.dims == 128
    assert str(embedder.dims) in json.dumps(mapping)


def test_song_and_query_vectors(rng: np.random.Generator):
    embedder = MelodyEmbedder.load()
    audio = (0.1 * rng.standard_normal(30 * MELODY_SAMPLE_RATE)).astype(np.float32)
    song = embedder.embed_song(audio)
    vectors, starts = song[0], song[1]
    assert vectors.shape == (len(starts), 128) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert starts[0] == 0 and starts[-1] == pytest.approx(20.0)
    query = embedder.embed_query(audio[: 6 * MELODY_SAMPLE_RATE])
    assert query[0].shape[0] == len(query[1]) >= 3  # one window per tempo variant at least
    assert np.all((query[1] >= 0) & (query[1] < 6))
    assert song.melody.shape[0] == SONG_CANDIDATES and song.melody.dtype == np.uint8
    assert song.melody.shape[1] == pytest.approx(30 * CONTOUR_RATE, abs=1)
    assert query.melody.ndim == 1  # a hum is one voice


def test_song_contour_keeps_a_second_voice_but_not_a_peaks_shoulder():
    sal = np.zeros((N_PITCH_BINS, 8), np.float32)
    sal[2 * 10, :] = 0.9  # the strongest pitch: semitone 10 (contour value 11) throughout
    sal[2 * 11, :4], sal[2 * 12, :4] = 0.7, 0.6  # its shoulder, sloping up: not a voice of its own
    sal[2 * 20 + 1, :4] = 0.5  # a second voice in the first two steps
    sal[2 * 25, 4:] = 0.2  # one too faint to count in the last two
    two = contour_from_salience(sal, candidates=2)
    np.testing.assert_array_equal(two, [[11, 11, 11, 11], [21, 21, 0, 0]])
    np.testing.assert_array_equal(contour_from_salience(sal), two[0])
    sal[:, 6:] = 0.1  # silence: no melody in either row
    np.testing.assert_array_equal(contour_from_salience(sal, candidates=2)[:, 3], [0, 0])


def _tune(rng: np.random.Generator, bars: int = 12) -> np.ndarray:
    """A singable tune: a motif in a major key, repeated and varied, 4 beats a bar at 0.5 s."""
    scale = np.array([0, 2, 4, 5, 7, 9, 11, 12, 14])
    motif = [(int(rng.integers(0, 7)), float(rng.choice([0.5, 1.0]))) for _ in range(4)]
    notes, t = [], 0.0
    for bar in range(bars):
        shift = int(rng.integers(-2, 3)) if bar % 2 else 0
        for degree, dur in motif:
            notes.append((t, t + dur * 0.95, 60 + scale[int(np.clip(degree + shift, 0, 8))]))
            t += dur
        motif[int(rng.integers(4))] = (int(rng.integers(0, 7)), float(rng.choice([0.5, 1.0])))
    return np.array(notes)


def _render(notes: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    midi = pretty_midi.PrettyMIDI()
    lead = pretty_midi.Instrument(program=int(rng.choice([0, 40, 73, 56])))
    lead.notes = [pretty_midi.Note(100, int(p), s, e) for s, e, p in notes]
    midi.instruments = [lead, *accompany(notes, rng=rng, tempo_bpm=120)]
    return render_midi(midi, sr=MELODY_SAMPLE_RATE, engine="tinysoundfont")


def test_hums_find_their_tunes_among_distractors(tmp_path: Path):
    """Eight similar tunes (same key, same tempo, motif-based); each is hummed once.

    A random embedding scores about 0.34 MRR here and the right tune first 1 time in 8.
    """
    rng = np.random.default_rng(11)
    tunes = [_tune(rng) for _ in range(8)]
    folder = tmp_path / "music"
    folder.mkdir()
    for i, notes in enumerate(tunes):
        sf.write(folder / f"tune{i}.wav", _render(notes, rng), MELODY_SAMPLE_RATE)
    embedder = MelodyEmbedder.load(os.environ.get("HUMSEARCH_TEST_MELODY_CHECKPOINT"))
    store = LocalStore(tmp_path / "index")
    assert not index_folder([folder], embedder=embedder, store=store).failed

    knn_ranks, final_ranks = [], []
    for target, notes in enumerate(tunes):
        passage = notes[8:24] - [notes[8, 0], notes[8, 0], 0]
        hum = synthesize_hum(passage, sr=MELODY_SAMPLE_RATE, rng=rng, voice="hum")
        for rerank, ranks in ((False, knn_ranks), (True, final_ranks)):
            stems = [Path(h.path).stem for h in search(hum.audio, embedder=embedder, store=store, k=8, rerank=rerank)]
            ranks.append(stems.index(f"tune{target}") + 1)
    assert np.mean(1 / np.array(knn_ranks)) >= 0.5, knn_ranks  # the embedding alone
    assert np.mean(1 / np.array(final_ranks)) >= 0.5, final_ranks  # the app's full search


VOCADITO = ROOT.parent / "shared" / "data" / "vocadito"


@pytest.mark.skipif(not VOCADITO.is_dir(), reason="needs ../shared/data")
def test_front_end_follows_a_real_singer():
    """The salience front end's strongest pitch is the sung note on most sung frames."""
    import subprocess
    import sys

    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "pitch_vocadito.py"), "--json"],
                         check=True, capture_output=True, text=True).stdout
    ours = json.loads(out)["melody_front_end"]
    assert ours["raw_pitch_accuracy_1st"] > 0.9
    assert ours["voicing_recall"] > 0.8
