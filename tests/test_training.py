"""The training pipeline runs end to end on a tiny generated data set and learns."""

import json
from pathlib import Path

import numpy as np
import pretty_midi
import pytest
import torch

from humsearch.melody.model import MelodyModel, ModelDims, load_checkpoint, save_checkpoint
from humsearch.synth.render import DEFAULT_SOUNDFONT
from humsearch.training import data, train


def _song(path: Path, rng: np.random.Generator, seconds: float = 40.0) -> Path:
    """A POP909-shaped MIDI file: MELODY, BRIDGE and PIANO tracks."""
    midi = pretty_midi.PrettyMIDI(initial_tempo=100)
    tracks = {name: pretty_midi.Instrument(program=0, name=name) for name in ("MELODY", "BRIDGE", "PIANO")}
    t, pitch = 0.0, 67
    while t < seconds:
        dur = float(rng.choice([0.3, 0.6, 0.9]))
        pitch = int(np.clip(pitch + rng.integers(-4, 5), 57, 79))
        tracks["MELODY"].notes.append(pretty_midi.Note(90, pitch, t, t + dur * 0.9))
        t += dur
    for bar in np.arange(0, seconds, 2.4):
        root = 48 + int(rng.choice([0, 5, 7, 9]))
        for p in (root, root + 4, root + 7):
            tracks["PIANO"].notes.append(pretty_midi.Note(60, p, bar, bar + 2.3))
        tracks["BRIDGE"].notes.append(pretty_midi.Note(50, root + 12, bar + 1.2, bar + 2.3))
    midi.instruments = list(tracks.values())
    midi.write(str(path))
    return path


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("train")
    rng = np.random.default_rng(5)
    out = root / "cache"
    out.mkdir()
    mp = pytest.MonkeyPatch()
    # Any machine: the SoundFont pretty_midi ships, rendered in-process; few hums per song.
    mp.setattr(data, "SOUNDFONTS", ((str(DEFAULT_SOUNDFONT), "tinysoundfont", 1.0),))
    mp.setattr(data, "HUMS_PER_SONG", 4)
    for i in range(4):
        data.build_song(out / f"pop909-{i:03d}.npz", _song(root / f"{i:03d}.mid", rng), seed=i)
    mp.undo()
    return out


def test_cache_holds_aligned_songs_and_hums(cache: Path):
    d = np.load(cache / "pop909-000.npz")
    for v in range(data.VARIANTS):
        assert d[f"spec{v}"].shape[1] == d[f"mel{v}"].shape[0]
        assert np.mean(d[f"mel{v}"] > 0) > 0.5  # the melody sounds most of the time
        # the notes are those of the per-frame melody, in the rendering's time and key
        notes, mel = d[f"notes{v}"], d[f"mel{v}"]
        frame = int(round((notes[3, 0] + notes[3, 1]) / 2 * 25))
        assert mel[frame] == notes[3, 2]
    assert d["hum_bounds"][-1, 1] == d["hum_spec"].shape[1] == d["hum_f0"].shape[0]
    assert len(d["hum_bounds"]) == 4


def test_a_tune_from_beats_is_cached_at_a_playable_tempo(tmp_path: Path):
    beats = np.array([[i, i + 1, 60 + (i % 5)] for i in range(32)], dtype=float)
    mp = pytest.MonkeyPatch()
    mp.setattr(data, "SOUNDFONTS", ((str(DEFAULT_SOUNDFONT), "tinysoundfont", 1.0),))
    data.build_tune(tmp_path / "corpus-00000.npz", seed=3, beats=beats)
    mp.undo()
    d = np.load(tmp_path / "corpus-00000.npz")
    onsets = d["notes0"][:, 0]
    assert 0.3 <= np.median(np.diff(onsets)) <= 0.75  # one beat
    assert np.mean(d["mel0"] > 0) > 0.5


def test_faint_lead_sources_play_the_melody_on_a_faint_lead(tmp_path: Path):
    # Marimba and xylophone are no plain leads, so a renderer ignoring `leads` cannot pass by luck.
    assert {12, 13} <= set(data.FAINT_LEADS) and not {12, 13} & set(data.LEAD_PROGRAMS)
    rng = np.random.default_rng(0)
    arranged, _, _ = data.arrange(pretty_midi.PrettyMIDI(str(_song(tmp_path / "s.mid", rng))), rng, (12,))
    assert next(i for i in arranged.instruments if i.name == "MELODY").program == 12
    tune = np.array([[i * 0.5, i * 0.5 + 0.4, 60 + i % 5] for i in range(16)], dtype=float)
    assert data._with_band(tune, 0.5, rng, (13,)).instruments[0].program == 13


def _tune_or_fail(out_path: Path, seed: int, *rest) -> str:
    """Stands in for data.build_tune: the second tune cannot be rendered."""
    if seed == 1_000_001:
        raise RuntimeError("renderer crashed")
    out_path.write_bytes(b"cached")
    return out_path.name


def test_a_song_that_fails_is_reported_and_the_build_goes_on(tmp_path: Path, monkeypatch, capsys):
    monkeypatch.setattr(data, "build_tune", _tune_or_fail)
    with pytest.raises(SystemExit, match="1 of 3 songs failed.*tune-00001.npz"):
        data.main(["--out", str(tmp_path), "--data", str(tmp_path), "--pop909", "0", "--tunes", "3"])
    assert sorted(p.name for p in tmp_path.glob("*.npz")) == ["tune-00000.npz", "tune-00002.npz"]
    assert "tune-00001.npz failed: RuntimeError: renderer crashed" in capsys.readouterr().out


def _tune_seed(out_path: Path, seed: int, *rest) -> str:
    """Stands in for data.build_tune: writes the seed it was given."""
    out_path.write_text(str(seed))
    return out_path.name


def test_a_round_builds_every_source_again_at_other_seeds(tmp_path: Path, monkeypatch):
    monkeypatch.setattr(data, "build_tune", _tune_seed)
    args = ["--out", str(tmp_path), "--data", str(tmp_path), "--pop909", "0", "--tunes", "2", "--faint-tunes", "1"]
    data.main(args)
    data.main([*args, "--round", "2"])
    seeds = {p.stem: int(p.read_text()) for p in tmp_path.glob("*.npz")}
    assert seeds == {"tune-00000": 1_000_000, "tune-00001": 1_000_001, "faint-tune-00000": 4_000_000,
                     "r2-tune-00000": 21_000_000, "r2-tune-00001": 21_000_001, "r2-faint-tune-00000": 24_000_000}


def test_a_rounds_renderings_of_a_pop909_song_share_its_melody():
    ids = {n: data.melody_id(Path(f"{n}.npz")) for n in
           ["r2-pop909-001", "r2-faint-pop909-001", "r3-shared-pop909-001", "r2-tune-00001", "tune-00001"]}
    assert ids == {"r2-pop909-001": "pop909-001", "r2-faint-pop909-001": "pop909-001",
                   "r3-shared-pop909-001": "pop909-001", "r2-tune-00001": "r2-tune-00001",
                   "tune-00001": "tune-00001"}


def test_shared_leads_are_the_leads_whose_family_the_band_plays():
    families = {p // 8 for p in data.ACCOMP_PROGRAMS}
    assert set(data.SHARED_LEADS) == {p for p in data.LEAD_PROGRAMS if p // 8 in families}
    assert {0, 24} <= set(data.SHARED_LEADS)  # a piano or guitar lead over piano and guitar chords
    assert not {73, 81} & set(data.SHARED_LEADS)  # flute and sawtooth lead: no band plays those


def test_validation_can_hold_out_whole_melodies():
    names = ["faint-pop909-001", "faint-tune-00001", "pop909-001", "pop909-002", "shared-pop909-001",
             "tune-00001"]
    files = [Path(f"{n}.npz") for n in names]
    train_files, val = train._split(files, train.TrainConfig(val_songs=1))
    assert [f.stem for f in val] == ["faint-pop909-001"]
    assert len(train_files) == 5  # the default: only the validation file itself is held out
    train_files, val = train._split(files, train.TrainConfig(val_songs=1, val_whole_melodies=True))
    assert [f.stem for f in val] == ["faint-pop909-001"]
    # pop909-001 and shared-pop909-001 sing its melody; faint-tune-00001 is not tune-00001's
    assert [f.stem for f in train_files] == ["faint-tune-00001", "pop909-002", "tune-00001"]


def test_set_parses_booleans_by_their_words():
    assert train.config_from_settings(["val_whole_melodies=true"]).val_whole_melodies is True
    assert train.config_from_settings(["val_whole_melodies=False"]).val_whole_melodies is False
    assert train.config_from_settings(["embed_steps=7", "salience_lr=0.5"]).embed_steps == 7
    with pytest.raises(SystemExit):
        train.config_from_settings(["val_whole_melodies=yes please"])


def test_set_parses_tuples_and_names_unknown_settings():
    assert train.config_from_settings(["hum_seconds=5,12.5"]).hum_seconds == (5.0, 12.5)
    with pytest.raises(SystemExit, match="2 comma-separated"):
        train.config_from_settings(["hum_seconds=5"])
    with pytest.raises(SystemExit, match="unknown setting embed_stpes"):
        train.config_from_settings(["embed_stpes=7"])


def test_both_stages_learn_and_export(cache: Path, tmp_path: Path, capsys):
    run = tmp_path / "run"
    common = ["--cache", str(cache), "--run", str(run), "--threads", "1"]
    small = ["val_songs=1", "checkpoint_every=10"]
    train.main(["salience", *common, "--set", "salience_steps=40", "salience_batch=8", *small])
    train.main(["precompute", *common, "--workers", "2"])
    assert len(list((run / "salience").glob("*.npz"))) == 4
    train.main(["embed", *common, "--set", "embed_steps=150", "embed_batch=3", "embed_lr=0.003", *small])
    out = capsys.readouterr().out
    logs = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    sal = [r["loss"] for r in logs[:4]]
    emb = [r["loss"] for r in logs[4:]]
    assert sal[-1] < sal[0] * 0.85, sal
    assert emb[-1] < emb[0], emb

    # killed and restarted: resumes from the saved step instead of starting over
    train.main(["embed", *common, "--set", "embed_steps=160", "embed_batch=3", *small])
    assert "resumed" in capsys.readouterr().out

    shipped = tmp_path / "melody.pt"
    train.main(["export", *common, "--out", str(shipped), "--version", "test-v0"])
    model, version = load_checkpoint(shipped)
    assert version == "test-v0"
    with torch.inference_mode():
        z = model(torch.randn(2, 176, 250))
    assert torch.allclose(z.norm(dim=1), torch.ones(2), atol=1e-5)


def test_embedding_stage_can_start_from_a_shipped_trunk(cache: Path, tmp_path: Path):
    """embed_init copies an earlier model's trunk; with a zero learning rate it stays as it was."""
    first, second = tmp_path / "first", tmp_path / "second"
    common = ["--cache", str(cache), "--threads", "1"]
    tiny = ["val_songs=1", "salience_steps=5", "salience_batch=4", "embed_steps=5", "embed_batch=3"]
    for run in (first, second):
        train.main(["salience", *common, "--run", str(run), "--set", *tiny])
        train.main(["precompute", *common, "--run", str(run)])
    train.main(["embed", *common, "--run", str(first), "--set", *tiny])
    shipped = tmp_path / "first.pt"
    train.main(["export", *common, "--run", str(first), "--out", str(shipped), "--version", "first"])
    train.main(["embed", *common, "--run", str(second), "--set", *tiny, "embed_lr=0", f"embed_init={shipped}"])
    head = torch.load(second / "embed.pt", weights_only=False)["model"]["embedding_net.head.weight"]
    assert torch.equal(head, load_checkpoint(shipped)[0].embedding_net.head.weight)


def test_salience_stage_grows_an_older_front_end_without_changing_it(tmp_path: Path):
    """A front end without time- or pitch-context blocks or coarse branch (melody-v2's shape)
    starts the salience stage of the current shape: the new parts start as identities, so its
    output is unchanged."""
    old = MelodyModel(ModelDims(salience_context_dilations=(), salience_pitch_dilations=(),
                                salience_coarse_channels=0)).eval()
    for p in old.salience_net.parameters():  # not a fresh init: any weights must carry over
        p.data.normal_(0, 0.1)
    save_checkpoint(old, tmp_path / "old.pt", version="old")
    grown = MelodyModel(ModelDims())
    assert len(grown.salience_net.context) > 0 and len(grown.salience_net.pitch_context) > 0
    assert sum(p.numel() for p in grown.salience_net.coarse.parameters()) > 0
    train._init_salience(grown, str(tmp_path / "old.pt"))
    x = torch.randn(2, 176, 200)
    with torch.inference_mode():
        assert torch.allclose(grown.eval().salience(x), old.salience(x), atol=1e-6)
    foreign = MelodyModel(ModelDims(salience_channels=8))
    save_checkpoint(foreign, tmp_path / "foreign.pt", version="foreign")
    with pytest.raises(ValueError, match="does not match"):
        train._init_salience(grown, str(tmp_path / "foreign.pt"))


def test_focus_draws_the_items_the_front_end_misses_more_often(tmp_path: Path):
    rng = np.random.default_rng(0)
    model = MelodyModel(ModelDims()).eval()
    spec = rng.standard_normal((176, 100)).astype(np.float16)
    sal = model.salience(torch.from_numpy(spec[None].astype(np.float32)))[0].argmax(dim=0).numpy()
    hit = (sal / 2 + 40).astype(np.float32)  # MIDI pitch (E2 = bin 0, quarter tones) on each peak
    miss = hit + 12
    items = [(spec, hit), (spec, miss)]
    assert train.item_errors(model, items).tolist() == [0.0, 1.0]
    assert not model.training  # a benchmark's eval-mode model stays in eval mode
    p = train._focus_probabilities(model, items, tmp_path, focus=0.5)
    assert p[1] == pytest.approx(3 * p[0])
    assert train._focus_probabilities(model, items, tmp_path, focus=0.0) is None
