"""The siamese melody network: a pitch-salience front end and an embedding trunk.

Both a hum and a song pass through the same weights:

    log-spectrogram --SalienceNet--> melody pitch salience (96 quarter-tone bins x frames)
                    --EmbeddingNet--> 128-d unit vector

The front end is trained to light up the sung/lead melody's pitch and nothing else, so
the trunk sees "the tune" whatever the instruments. The trunk's last pitch pooling is a
max over the whole pitch axis, which makes the vector (nearly) independent of key.
A checkpoint carries its own ModelDims, so it loads without guessing its shape.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from humsearch.constants import FRAMES_PER_SECOND, N_PITCH_BINS
from humsearch.errors import ModelNotFoundError
from humsearch.melody.features import HARMONICS, harmonic_stack

LOCAL_NORM_S = 4.0  # loudness is normalized against the loudest frame within +-2 s
LOG_REFERENCE_FLOOR = -2.0  # natural-log magnitude; quieter passages are not amplified (~ -70 dB)
LOG_RANGE = 8.0  # ~70 dB of dynamic range kept below the local maximum


@dataclass(frozen=True)
class ModelDims:
    salience_channels: int = 16
    trunk_channels: tuple[int, ...] = (16, 32, 64, 128)
    embed_dims: int = 128
    trunk_time_pool: int = 2  # salience frames averaged before the trunk (25 -> 12.5 fps)
    trunk_pitch_pool: int = 2  # quarter tones max-pooled to semitones before the trunk
    # Residual temporal convolutions after the pitch max, at 3.125 steps/s: dilations 1, 2, 4, 8
    # see about 10 s, so the vector knows the order of a whole phrase's motifs, not just a bag
    # of 2-second pieces.
    temporal_dilations: tuple[int, ...] = (1, 2, 4, 8)
    # Residual time-context blocks at the end of the front end, dilations in frames (25/s):
    # 3, 9 and 27 let it hear about +-1.5 s more, so a struck or plucked lead (vibraphone,
    # piano, guitar) whose note has faded under the band still reads as the melody.
    salience_context_dilations: tuple[int, ...] = (3, 9, 27)
    # Residual pitch-context blocks after those, dilations in quarter-tone bins: 8 and 24 let
    # each pitch see its neighbours 4 semitones and an octave away (+-16 semitones once
    # stacked), so the front end can weigh a candidate line against the chords and bass around
    # it when it decides which one is the tune.
    salience_pitch_dilations: tuple[int, ...] = (8, 24)
    # A wider residual branch at half the pitch and time resolution after those (0: none): more
    # channels to tell the tune from a band voice of the same family (a piano lead over a piano
    # part, a choir over pads), at a quarter of the positions, so it costs about what one more
    # full-resolution layer does. Its 3x3 layers are dilated 1, 2 and 4 on both axes.
    salience_coarse_channels: int = 48
    salience_coarse_dilations: tuple[int, ...] = (1, 2, 4)


def normalize_loudness(spec: torch.Tensor) -> torch.Tensor:
    """(B, bins, T) log-magnitude -> [0, 1], relative to the loudest nearby frame."""
    frame_max = spec.amax(dim=1, keepdim=True)
    k = int(LOCAL_NORM_S * FRAMES_PER_SECOND) | 1
    local = F.max_pool1d(frame_max, k, stride=1, padding=k // 2)
    ref = local.clamp(min=LOG_REFERENCE_FLOOR)
    return ((spec - ref).clamp(min=-LOG_RANGE) + LOG_RANGE) / LOG_RANGE


def _conv2d(cin: int, cout: int, kernel: tuple[int, int], stride: int = 1) -> nn.Sequential:
    pad = (kernel[0] // 2, kernel[1] // 2)
    return nn.Sequential(nn.Conv2d(cin, cout, kernel, stride=stride, padding=pad, bias=False),
                         nn.BatchNorm2d(cout), nn.ReLU())


class _Context(nn.Module):
    """x + f(x), f a 3x3 convolution dilated along pitch and time; its last layer starts at
    zero, so adding these blocks to a trained front end starts from exactly what it already
    computes."""

    def __init__(self, channels: int, dilation: tuple[int, int]):
        super().__init__()
        self.f = nn.Sequential(
            nn.Conv2d(channels, channels, (3, 3), padding=dilation, dilation=dilation, bias=False),
            nn.BatchNorm2d(channels), nn.ReLU(), nn.Conv2d(channels, channels, 1))
        nn.init.zeros_(self.f[-1].weight)
        nn.init.zeros_(self.f[-1].bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.f(x)


class _Coarse(nn.Module):
    """x + up(g(down(x))): a wider residual branch at half resolution in pitch and time. Its last
    layer starts at zero, like _Context's, so it grows onto a trained front end unchanged."""

    def __init__(self, channels: int, width: int, dilations: tuple[int, ...]):
        super().__init__()
        layers = [nn.Conv2d(channels, width, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU()]
        for d in dilations:
            layers += [nn.Conv2d(width, width, 3, padding=d, dilation=d, bias=False), nn.BatchNorm2d(width),
                       nn.ReLU()]
        layers.append(nn.Conv2d(width, channels, 1))
        self.g = nn.Sequential(*layers)
        nn.init.zeros_(self.g[-1].weight)
        nn.init.zeros_(self.g[-1].bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.g(F.avg_pool2d(x, 2, ceil_mode=True))
        return x + F.interpolate(y, scale_factor=2, mode="nearest")[:, :, : x.shape[2], : x.shape[3]]


class SalienceNet(nn.Module):
    """Log-spectrogram (B, N_SPEC_BINS, T) -> melody salience logits (B, N_PITCH_BINS, T)."""

    def __init__(self, channels: int, context_dilations: tuple[int, ...] = (),
                 pitch_dilations: tuple[int, ...] = (), coarse_channels: int = 0,
                 coarse_dilations: tuple[int, ...] = ()):
        super().__init__()
        c = channels
        self.layers = nn.Sequential(
            _conv2d(len(HARMONICS), c, (5, 5)),
            _conv2d(c, c, (5, 5)),
            _conv2d(c, c, (25, 1)),  # an octave of pitch context: which line is the melody
            _conv2d(c, c, (1, 9)),  # 360 ms of time context
            nn.Conv2d(c, 1, 1),
        )
        self.context = nn.Sequential(*(_Context(c, (1, d)) for d in context_dilations))
        self.pitch_context = nn.Sequential(*(_Context(c, (d, 1)) for d in pitch_dilations))
        self.coarse = _Coarse(c, coarse_channels, coarse_dilations) if coarse_channels else nn.Identity()

    def forward(self, spec: torch.Tensor) -> torch.Tensor:
        x = self.layers[:-1](harmonic_stack(normalize_loudness(spec)))
        return self.layers[-1](self.coarse(self.pitch_context(self.context(x)))).squeeze(1)


class EmbeddingNet(nn.Module):
    """Salience (B, N_PITCH_BINS, T) in [0, 1] -> L2-normalized (B, embed_dims)."""

    def __init__(self, dims: ModelDims):
        super().__init__()
        c1, c2, c3, c4 = dims.trunk_channels
        # Strided first layer: full-resolution activations cost more memory traffic than MACs.
        blocks = [_conv2d(1, c1, (3, 3), stride=2), _conv2d(c1, c2, (3, 3)), nn.MaxPool2d((2, 2)),
                  _conv2d(c2, c3, (3, 3)), nn.MaxPool2d((2, 1)), _conv2d(c3, c4, (3, 3))]
        self.blocks = nn.Sequential(*blocks)
        width = c4
        self.temporal = nn.ModuleList(
            nn.Sequential(nn.Conv1d(width, width, 3, padding=d, dilation=d, bias=False), nn.BatchNorm1d(width),
                          nn.ReLU())
            for d in dims.temporal_dilations
        )
        self.head = nn.Linear(2 * width, dims.embed_dims)
        self.time_pool = dims.trunk_time_pool
        self.pitch_pool = dims.trunk_pitch_pool

    def forward(self, salience: torch.Tensor) -> torch.Tensor:
        x = F.avg_pool1d(salience, self.time_pool, ceil_mode=True).unsqueeze(1)
        x = F.max_pool2d(x, (self.pitch_pool, 1))
        x = self.blocks(x).amax(dim=2)  # max over pitch: key invariance
        for layer in self.temporal:
            x = x + layer(x)
        x = torch.cat([x.mean(dim=2), x.amax(dim=2)], dim=1)
        return F.normalize(self.head(x), dim=1)


class MelodyModel(nn.Module):
    def __init__(self, dims: ModelDims = ModelDims()):
        super().__init__()
        self.dims = dims
        self.salience_net = SalienceNet(dims.salience_channels, dims.salience_context_dilations,
                                        dims.salience_pitch_dilations, dims.salience_coarse_channels,
                                        dims.salience_coarse_dilations)
        self.embedding_net = EmbeddingNet(dims)

    def salience(self, spec: torch.Tensor) -> torch.Tensor:
        """(B, N_SPEC_BINS, T) -> (B, N_PITCH_BINS, T) probabilities."""
        return torch.sigmoid(self.salience_net(spec))

    def forward(self, spec: torch.Tensor) -> torch.Tensor:
        return self.embedding_net(self.salience(spec))


def save_checkpoint(model: MelodyModel, path: str | Path, *, version: str, extra: dict | None = None) -> None:
    """Write {dims, version, state_dict, extra}: everything needed to rebuild the model."""
    torch.save({"dims": asdict(model.dims), "version": version, "state_dict": model.state_dict(),
                "extra": extra or {}}, path)


def load_checkpoint(path: str | Path, *, device: str = "cpu") -> tuple[MelodyModel, str]:
    """Rebuild a MelodyModel from a checkpoint written by save_checkpoint.

    Raises:
        ModelNotFoundError: the file is missing or is not a melody checkpoint.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelNotFoundError(f"melody model checkpoint not found: {path}")
    try:
        ckpt = torch.load(path, map_location=device, weights_only=True)
        # Dims a checkpoint lacks predate them: melody-v1 had two undilated temporal layers,
        # melody-v1 and v2 no front-end time-context blocks, v1 to v5 no pitch-context blocks,
        # v1 to v6 no coarse branch.
        dims = {"temporal_dilations": (1, 1), "salience_context_dilations": (), "salience_pitch_dilations": (),
                "salience_coarse_channels": 0, **ckpt["dims"]}
        model = MelodyModel(ModelDims(**{k: tuple(v) if isinstance(v, list) else v for k, v in dims.items()}))
        model.load_state_dict(ckpt["state_dict"])
    except (KeyError, RuntimeError, TypeError, ValueError) as exc:
        raise ModelNotFoundError(f"{path} is not a usable melody checkpoint: {exc}") from exc
    return model.to(device).eval(), str(ckpt["version"])


__all__ = ["MelodyModel", "ModelDims", "N_PITCH_BINS", "load_checkpoint", "save_checkpoint"]
