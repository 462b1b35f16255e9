"""Train the melody model in stages on the CPU; every stage checkpoints and resumes.

    python -m humsearch.training.train salience --cache cache/train-faint --run runs/melody-v9 \
        --set seed=5 salience_init=<melody-v8 checkpoint> salience_steps=2000 salience_lr=0.0002 \
        salience_focus=0.5 salience_frames=160
    python -m humsearch.training.train precompute --cache cache/train-faint --run runs/melody-v9 --workers 2
    python -m humsearch.training.train embed --run runs/melody-v9 --workers 1 \
        --set seed=6 embed_steps=3000 embed_lr=0.00025 embed_init=<melody-v8 checkpoint>
    python -m humsearch.training.train export --run runs/melody-v9 --out humsearch/models/melody.pt \
        --version melody-v9

1. salience: the front end learns, frame by frame, the pitch of the melody (songs: the
   MIDI melody line; hums: the synthesized pitch). Supervised; it can start from an earlier
   checkpoint's front end (salience_init) and go on learning on new renderings.
2. precompute: the frozen front end turns every cached song (and hum) into salience maps.
3. embed: the siamese trunk learns with InfoNCE (in-batch negatives, one pair per song in
   a batch so repeated choruses never act as negatives) to put a hum next to the song
   window it imitates, across keys, tempi, voices and arrangements. The song side is the
   front end's salience of the rendered song; the query side is a hum sung afresh for every
   pair from the song's melody notes (humsearch.training.hums).
Hyperparameters live in TrainConfig and are saved into the run folder.
"""

from __future__ import annotations

import argparse
import json
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from humsearch.constants import FRAMES_PER_SECOND, N_PITCH_BINS, WINDOW_S
from humsearch.embedders.melody import QUERY_STRETCHES  # train with the tempo variants search uses
from humsearch.melody.features import pitch_bin
from humsearch.melody.model import MelodyModel, ModelDims, load_checkpoint, save_checkpoint
from humsearch.synth.hum import sing
from humsearch.training.data import melody_id, save_npz
from humsearch.training.hums import line_salience



@dataclass(frozen=True)
class TrainConfig:
    seed: int = 0
    val_songs: int = 16  # cached songs kept out of training for validation
    # Also keep out every other rendering of the validation songs' melodies (data.melody_id):
    # faint-pop909-001 validates, pop909-001 trains on its melody, which flatters the validation
    # figures. Off by default only so the recipes of melody-v2 to v10 reproduce their weights.
    val_whole_melodies: bool = False
    # stage 1
    salience_steps: int = 3000
    salience_batch: int = 16
    salience_frames: int = 128
    salience_lr: float = 2e-3
    salience_sigma_bins: float = 1.0
    # A melody checkpoint whose front end starts the salience stage (more training on new
    # renderings); "" starts from random weights. Blocks the init checkpoint lacks (time or
    # pitch context) start as identities.
    salience_init: str = ""
    # How much of an item's chance to be drawn follows the init front end's error on it:
    # p ~ (1 - focus) + focus * error / mean error. 0 draws uniformly; more spends the steps on
    # the renderings whose melody it hears worst (struck and reed leads, dense arrangements).
    salience_focus: float = 0.0
    # stage 3
    embed_steps: int = 6000
    embed_batch: int = 128
    embed_lr: float = 2e-3
    embed_weight_decay: float = 1e-4
    temperature: float = 0.05
    hum_seconds: tuple[float, float] = (4.0, 10.0)
    pitch_shift_bins: int = 8
    song_gain_db: float = 12.0  # song windows scaled by -12..+6 dB of salience
    # A melody checkpoint whose trunk starts the embedding stage (fine-tuning an earlier model
    # on a new front end or more data); "" starts from random weights.
    embed_init: str = ""
    checkpoint_every: int = 100


def _window_frames() -> int:
    return int(WINDOW_S * FRAMES_PER_SECOND)


def _files(cache: Path) -> list[Path]:
    return sorted(cache.glob("*.npz"))


def _split(files: list[Path], cfg: TrainConfig) -> tuple[list[Path], list[Path]]:
    """(training files, validation files): the first val_songs files validate."""
    train, val = files[cfg.val_songs :], files[: cfg.val_songs]
    if cfg.val_whole_melodies:
        held = {melody_id(f) for f in val}
        train = [f for f in train if melody_id(f) not in held]
    return train, val


def _salience_target(pitch_midi: np.ndarray, sigma: float) -> np.ndarray:
    """(T,) MIDI pitch (0 = none) -> (N_PITCH_BINS, T) Gaussian bumps."""
    bins = np.arange(N_PITCH_BINS)[:, None]
    centre = pitch_bin(pitch_midi)[None, :]
    target = np.exp(-0.5 * ((bins - centre) / sigma) ** 2)
    target[:, pitch_midi <= 0] = 0.0
    return target.astype(np.float32)


class _Resumable:
    """Model + optimizer + step saved together so a killed stage resumes where it stopped."""

    def __init__(self, path: Path, model: torch.nn.Module, opt: torch.optim.Optimizer):
        self.path, self.model, self.opt, self.step = path, model, opt, 0
        if path.exists():
            state = torch.load(path, weights_only=False)
            model.load_state_dict(state["model"])
            opt.load_state_dict(state["opt"])
            self.step = state["step"]
            print(f"resumed {path} at step {self.step}", flush=True)

    def save(self) -> None:
        tmp = self.path.with_suffix(".tmp")
        torch.save({"model": self.model.state_dict(), "opt": self.opt.state_dict(), "step": self.step}, tmp)
        tmp.replace(self.path)

    def checkpoint(self, losses: list[float], t0: float, cfg: TrainConfig, total: int, metrics) -> list[float]:
        """Every checkpoint_every steps (and at the last): save, and print one JSON log line
        with the mean loss since the last one, plus `metrics()` every fifth time and at the end.

        Returns the loss list to keep appending to (emptied after a log line)."""
        if self.step % cfg.checkpoint_every and self.step != total:
            return losses
        self.save()
        msg = {"step": self.step, "loss": float(np.mean(losses)), "s": round(time.time() - t0)}
        if self.step % (cfg.checkpoint_every * 5) == 0 or self.step == total:
            msg.update(metrics())
        print(json.dumps(msg), flush=True)
        return []


# ---------------------------------------------------------------- stage 1: salience
def _load_salience_data(files: list[Path]) -> list[tuple[np.ndarray, np.ndarray]]:
    items = []
    for f in files:
        d = np.load(f)
        v = 0
        while f"spec{v}" in d:
            items.append((d[f"spec{v}"], d[f"mel{v}"]))
            v += 1
        items.append((d["hum_spec"], d["hum_f0"]))
    return items


def _salience_batch(items, n: int, frames: int, sigma: float, rng: np.random.Generator, weights=None):
    specs, targets = [], []
    for i in rng.choice(len(items), size=n, p=weights):
        spec, pitch = items[i]
        start = int(rng.integers(0, max(spec.shape[1] - frames, 1)))
        s = spec[:, start : start + frames].astype(np.float32)
        p = pitch[start : start + frames]
        if s.shape[1] < frames:
            pad = frames - s.shape[1]
            s = np.pad(s, ((0, 0), (0, pad)), constant_values=s.min())
            p = np.pad(p, (0, pad))
        specs.append(s)
        targets.append(_salience_target(p, sigma))
    return torch.from_numpy(np.stack(specs)), torch.from_numpy(np.stack(targets))


def pitch_accuracy(model: MelodyModel, items, frames: int = 512) -> dict[str, float]:
    """Raw pitch accuracy (within a semitone) and voicing recall, on labelled frames."""
    model.eval()
    hits = total = 0
    with torch.inference_mode():
        for spec, pitch in items:
            for start in range(0, spec.shape[1] - frames + 1, frames * 4):
                sal = model.salience(torch.from_numpy(spec[None, :, start : start + frames].astype(np.float32)))[0]
                p = pitch[start : start + frames]
                voiced = p > 0
                est = sal.argmax(dim=0).numpy()
                hits += int(np.sum(np.abs(est[voiced] - pitch_bin(p[voiced])) <= 2))
                total += int(voiced.sum())
    model.train()
    return {"raw_pitch_accuracy": hits / max(total, 1)}


def item_errors(model: MelodyModel, items) -> np.ndarray:
    """Per item: the fraction of labelled frames whose salience peak misses the pitch by more
    than a semitone. Leaves the model in the mode it was in."""
    was_training = model.training
    model.eval()
    errors = []
    with torch.inference_mode():
        for spec, pitch in items:
            est = model.salience(torch.from_numpy(spec[None].astype(np.float32)))[0].argmax(dim=0).numpy()
            voiced = pitch > 0
            miss = np.abs(est[voiced] - pitch_bin(pitch[voiced])) > 2
            errors.append(float(miss.mean()) if voiced.any() else 0.0)
    model.train(was_training)
    return np.array(errors)


def _init_salience(model: MelodyModel, checkpoint: str) -> None:
    try:
        result = model.salience_net.load_state_dict(load_checkpoint(checkpoint)[0].salience_net.state_dict(),
                                                    strict=False)
    except RuntimeError as exc:  # a tensor of another shape
        raise ValueError(f"{checkpoint}: front end does not match: {exc}") from exc
    if result.unexpected_keys or any(not k.startswith(("context.", "pitch_context.", "coarse.")) for k in result.missing_keys):
        raise ValueError(f"{checkpoint}: front end does not match: {result}")


def _focus_probabilities(model: MelodyModel, items, run: Path, focus: float) -> np.ndarray | None:
    if focus <= 0:
        return None
    path = run / "salience-errors.npy"  # computed once per run, so a resumed run draws alike
    if not path.exists():
        np.save(path, item_errors(model, items))
    errors = np.load(path)
    print(f"salience: init front end misses {errors.mean():.3f} of frames; focus {focus}", flush=True)
    p = (1 - focus) + focus * errors / max(errors.mean(), 1e-6)
    return p / p.sum()


def train_salience(cache: Path, run: Path, cfg: TrainConfig) -> None:
    train_files, val_files = _split(_files(cache), cfg)
    items, val = _load_salience_data(train_files), _load_salience_data(val_files)
    print(f"salience: {len(items)} training items, {len(val)} validation items", flush=True)
    model = MelodyModel(ModelDims())
    if cfg.salience_init:
        _init_salience(model, cfg.salience_init)
    p = _focus_probabilities(model, items, run, cfg.salience_focus)
    opt = torch.optim.Adam(model.salience_net.parameters(), lr=cfg.salience_lr)
    state = _Resumable(run / "salience.pt", model, opt)
    rng = np.random.default_rng(cfg.seed + state.step)
    t0, losses = time.time(), []
    while state.step < cfg.salience_steps:
        for g in opt.param_groups:  # cosine decay
            g["lr"] = cfg.salience_lr * 0.5 * (1 + np.cos(np.pi * state.step / cfg.salience_steps))
        x, y = _salience_batch(items, cfg.salience_batch, cfg.salience_frames, cfg.salience_sigma_bins, rng, p)
        loss = F.binary_cross_entropy_with_logits(model.salience_net(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
        state.step += 1
        losses = state.checkpoint(losses, t0, cfg, cfg.salience_steps, lambda: pitch_accuracy(model, val))


# ------------------------------------------------------------ stage 2: precompute
_precompute_model: MelodyModel | None = None  # each precompute worker's copy of the front end


def _load_front_end(run: Path) -> None:
    global _precompute_model
    torch.set_num_threads(1)  # one process per core
    model = MelodyModel(ModelDims())
    model.load_state_dict(torch.load(run / "salience.pt", weights_only=False)["model"])
    _precompute_model = model.eval()


def _precompute_file(src: Path, out: Path) -> str:
    d = np.load(src)
    arrays = {k: d[k] for k in d if not k.startswith(("spec", "hum_spec"))}
    with torch.inference_mode():
        for k in [k for k in d if k.startswith("spec") or k == "hum_spec"]:
            sal = _precompute_model.salience(torch.from_numpy(d[k].astype(np.float32))[None])[0].numpy()
            arrays[k.replace("spec", "sal")] = np.round(sal * 255).astype(np.uint8)
    save_npz(out, arrays)
    return src.name


def precompute(cache: Path, run: Path, workers: int = 1) -> None:
    out_dir = run / "salience"
    out_dir.mkdir(exist_ok=True)
    todo = [f for f in _files(cache) if not (out_dir / f.name).exists()]
    with ProcessPoolExecutor(workers, initializer=_load_front_end, initargs=(run,)) as pool:
        for i, name in enumerate(pool.map(_precompute_file, todo, [out_dir / f.name for f in todo])):
            if i % 50 == 0:
                print(f"precompute {i + 1}/{len(todo)}: {name}", flush=True)


# ------------------------------------------------------------------ stage 3: embed
def _shift_pitch(x: np.ndarray, bins: int) -> np.ndarray:
    """Transpose a (bins, T) salience map by `bins`, filling with silence."""
    out = np.zeros_like(x)
    if bins >= 0:
        out[bins:] = x[: x.shape[0] - bins]
    else:
        out[:bins] = x[-bins:]
    return out


class PairSampler:
    """(hum crop, song window) pairs: a hum freshly sung from the song's notes, drawn as salience
    (humsearch.training.hums), and a window of the song's salience that contains the passage."""

    def __init__(self, files: list[Path], cfg: TrainConfig, rng: np.random.Generator):
        self.cfg, self.rng = cfg, rng
        self.songs = []
        for f in files:
            with np.load(f) as d:
                v = 0
                while f"sal{v}" in d:
                    if d[f"sal{v}"].shape[1] >= _window_frames() and len(d[f"notes{v}"]) >= 8:
                        self.songs.append((d[f"sal{v}"], d[f"notes{v}"].astype(np.float64)))
                    v += 1

    @staticmethod
    def _stretch(x: np.ndarray, factor: float) -> np.ndarray:
        """Resample the time axis of (bins, T) by factor (>1 = longer)."""
        t = torch.from_numpy(x)[None]
        n = max(int(round(x.shape[1] * factor)), 2)
        return F.interpolate(t, size=n, mode="linear", align_corners=False)[0].numpy()

    def pair(self, song: tuple[np.ndarray, np.ndarray], hum_frames: int) -> tuple[np.ndarray, np.ndarray] | None:
        rng, W, fps = self.rng, _window_frames(), FRAMES_PER_SECOND
        sal, notes = song
        tempo = rng.uniform(0.7, 1.4)  # hum duration / song duration
        # Search compares the query at a few tempi; train with the variant that comes closest
        # to undoing the singer's tempo, as search will.
        stretch = min(QUERY_STRETCHES, key=lambda s: abs(np.log(s * tempo))) * rng.uniform(0.97, 1.03)
        song_s = hum_frames / fps / (tempo * stretch)  # song seconds the crop will cover
        start = rng.uniform(notes[0, 0] - 0.5, max(notes[-1, 1] - song_s, notes[0, 0]))
        sel = notes[(notes[:, 0] >= start) & (notes[:, 0] < start + song_s + 1.0)]
        if len(sel) < 3:
            return None
        line = sing(sel - [sel[0, 0], sel[0, 0], 0], rng=rng, tempo=tempo)
        hum = self._stretch(line_salience(line.f0_frames(), rng), stretch)
        hum = hum[:, int(line.lead_in * fps * stretch) :][:, :hum_frames]
        if hum.shape[1] < hum_frames // 2 or hum.max() < 0.3:
            return None
        if hum.shape[1] < hum_frames:  # the passage ran out: the query ends early
            hum = np.pad(hum, ((0, 0), (0, hum_frames - hum.shape[1])))
        # The song window holds the passage [sel start, + song_s] wherever it fits.
        s0, s1 = sel[0, 0] * fps, (sel[0, 0] + song_s) * fps
        lo, hi = (s1 - W, s0) if s1 - s0 <= W else ((s0 + s1 - W) / 2,) * 2
        at = int(np.clip(rng.uniform(lo, hi), 0, sal.shape[1] - W))
        window = sal[:, at : at + W].astype(np.float32) / 255
        if self.cfg.song_gain_db:  # songs whose melody the front end hears faintly
            window = np.clip(window * 10 ** (rng.uniform(-1, 0.5) * self.cfg.song_gain_db / 20), 0, 1)
        shift = int(rng.integers(-self.cfg.pitch_shift_bins, self.cfg.pitch_shift_bins + 1))
        return _shift_pitch(hum, shift), window

    def batch(self, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        seconds = self.rng.uniform(*self.cfg.hum_seconds)
        hum_frames = int(seconds * FRAMES_PER_SECOND)
        hums, wins = [], []
        order = self.rng.permutation(len(self.songs))
        for i in order[:n]:  # one pair per song: a repeated chorus never acts as a negative
            for _ in range(4):  # a passage with too few notes is drawn again
                p = self.pair(self.songs[i], hum_frames)
                if p is not None:
                    hums.append(p[0])
                    wins.append(p[1])
                    break
        return torch.from_numpy(np.stack(hums)), torch.from_numpy(np.stack(wins))


def retrieval_metrics(model: MelodyModel, sampler: PairSampler, n_batches: int = 4) -> dict[str, float]:
    """Hum -> window retrieval among a batch of pairs from distinct songs (quick proxy)."""
    model.eval()
    ranks = []
    with torch.inference_mode():
        for _ in range(n_batches):
            h, w = sampler.batch(len(sampler.songs))
            sim = model.embedding_net(h) @ model.embedding_net(w).T
            ranks.extend((sim > sim.diag()[:, None]).sum(1).tolist())
    model.train()
    r = np.array(ranks)
    return {"val_top1": float(np.mean(r == 0)), "val_mrr": float(np.mean(1 / (r + 1))), "val_n": len(sampler.songs)}


class _Batches(torch.utils.data.IterableDataset):
    """Training batches drawn in a loader process, so that singing hums overlaps the training step."""

    def __init__(self, files: list[Path], cfg: TrainConfig, seed: int):
        self.files, self.cfg, self.seed = files, cfg, seed

    def __iter__(self):  # noqa: ANN204
        info = torch.utils.data.get_worker_info()
        rng = np.random.default_rng([self.seed, info.id if info else 0])
        sampler = PairSampler(self.files, self.cfg, rng)
        while True:
            yield sampler.batch(self.cfg.embed_batch)


def train_embed(run: Path, cfg: TrainConfig, workers: int = 1) -> None:
    files = _files(run / "salience")
    train_files, val_files = _split(files, cfg)
    val = PairSampler(val_files, cfg, np.random.default_rng(1))
    print(f"embed: {len(train_files)} training songs, {len(val.songs)} validation songs", flush=True)
    model = MelodyModel(ModelDims())
    model.load_state_dict(torch.load(run / "salience.pt", weights_only=False)["model"])
    if cfg.embed_init:
        model.embedding_net.load_state_dict(load_checkpoint(cfg.embed_init)[0].embedding_net.state_dict())
    net = model.embedding_net
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.embed_lr, weight_decay=cfg.embed_weight_decay)
    state = _Resumable(run / "embed.pt", model, opt)
    # Seeded by the step, so a resumed run does not replay the batches it already saw.
    batches = iter(torch.utils.data.DataLoader(_Batches(train_files, cfg, cfg.seed + state.step), batch_size=None,
                                               num_workers=workers, prefetch_factor=4 if workers else None))
    t0, losses = time.time(), []
    while state.step < cfg.embed_steps:
        warm = min(1.0, (state.step + 1) / 200)
        for g in opt.param_groups:
            g["lr"] = cfg.embed_lr * warm * 0.5 * (1 + np.cos(np.pi * state.step / cfg.embed_steps))
        h, w = next(batches)
        zh, zw = net(h), net(w)
        logits = zh @ zw.T / cfg.temperature
        labels = torch.arange(len(zh))
        loss = (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels)) / 2
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
        state.step += 1
        losses = state.checkpoint(losses, t0, cfg, cfg.embed_steps, lambda: retrieval_metrics(model, val))


def export(run: Path, out: Path, version: str) -> None:
    model = MelodyModel(ModelDims())
    model.load_state_dict(torch.load(run / "embed.pt", weights_only=False)["model"])
    configs = {stage: json.loads((run / f"config-{stage}.json").read_text())
               for stage in ("salience", "embed") if (run / f"config-{stage}.json").exists()}
    out.parent.mkdir(parents=True, exist_ok=True)
    save_checkpoint(model.eval(), out, version=version, extra={"train_config": json.dumps(configs)})
    load_checkpoint(out)  # the file we ship must load
    print(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB), version {version}")


def config_from_settings(settings: list[str]) -> TrainConfig:
    """TrainConfig with --set's KEY=VALUE overrides, each read as the type of its default."""
    defaults = asdict(TrainConfig())
    overrides = dict(kv.split("=", 1) for kv in settings)
    unknown = sorted(set(overrides) - set(defaults))
    if unknown:
        raise SystemExit(f"unknown setting {', '.join(unknown)} (TrainConfig has {', '.join(defaults)})")
    return TrainConfig(**{**defaults, **{k: _parse_setting(defaults[k], v) for k, v in overrides.items()}})


def _parse_setting(default: object, text: str) -> object:
    """A --set value as the type of its TrainConfig default: bool("false") would be True, and a
    tuple ("4,10" for hum_seconds) is its comma-separated items, each as the default's."""
    if isinstance(default, bool):
        if text.lower() not in ("true", "false"):
            raise SystemExit(f"expected true or false, got {text!r}")
        return text.lower() == "true"
    if isinstance(default, tuple):
        items = text.split(",")
        if len(items) != len(default):
            raise SystemExit(f"expected {len(default)} comma-separated values, got {text!r}")
        return tuple(_parse_setting(d, item.strip()) for d, item in zip(default, items))
    return type(default)(text)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("stage", choices=["salience", "precompute", "embed", "export"])
    parser.add_argument("--cache", type=Path, default=Path("cache/train"))
    parser.add_argument("--run", type=Path, default=Path("runs/melody-v9"))
    parser.add_argument("--out", type=Path, default=Path("humsearch/models/melody.pt"))
    parser.add_argument("--version", default="melody-v9")
    parser.add_argument("--threads", type=int, default=2, help="torch threads of the training stages")
    parser.add_argument("--workers", type=int, default=1,
                        help="processes of the precompute stage; batch-drawing processes of the embed stage (0: none)")
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="override TrainConfig fields")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    cfg = config_from_settings(args.set)
    torch.manual_seed(cfg.seed)
    args.run.mkdir(parents=True, exist_ok=True)
    if args.stage in ("salience", "embed"):  # what each training stage actually ran with
        (args.run / f"config-{args.stage}.json").write_text(json.dumps(asdict(cfg), indent=2))
    if args.stage == "salience":
        train_salience(args.cache, args.run, cfg)
    elif args.stage == "precompute":
        precompute(args.cache, args.run, args.workers)
    elif args.stage == "embed":
        train_embed(args.run, cfg, args.workers)
    else:
        export(args.run, args.out, args.version)


if __name__ == "__main__":
    main()
