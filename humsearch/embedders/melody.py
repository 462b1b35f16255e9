"""Our siamese melody model behind the Embedder interface (the default embedder)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from humsearch.constants import FRAMES_PER_SECOND, MELODY_SAMPLE_RATE
from humsearch.embedders.base import Embedder, QueryEmbedding, SongEmbedding, window_starts
from humsearch.melody.contour import SONG_CANDIDATES, SONG_VOICED_SALIENCE, contour_from_salience
from humsearch.melody.features import log_spectrogram
from humsearch.melody.model import MelodyModel, load_checkpoint

DEFAULT_CHECKPOINT = Path(__file__).resolve().parents[1] / "models" / "melody.pt"
# A hum's tempo is unknown: the query is also compared slowed down and sped up, which
# covers tempi from x0.7 to x1.4 of the song with the model's own tolerance in between.
QUERY_STRETCHES = (0.8, 1.0, 1.25)
QUERY_HOP_S = 2.5
BATCH = 64


class MelodyEmbedder(Embedder):
    name = "melody"
    sample_rate = MELODY_SAMPLE_RATE

    def __init__(self, model: MelodyModel, version: str, *, device: str = "cpu"):
        self.model = model.to(device).eval()
        self.version = version
        self.dims = model.dims.embed_dims
        self.device = device

    @classmethod
    def load(cls, checkpoint: str | Path | None = None, *, device: str = "cpu") -> "MelodyEmbedder":
        model, version = load_checkpoint(checkpoint or DEFAULT_CHECKPOINT, device=device)
        return cls(model, version, device=device)

    def salience(self, audio: np.ndarray) -> torch.Tensor:
        """Melody pitch salience (N_PITCH_BINS, frames) of a whole signal, computed once."""
        with torch.inference_mode():
            spec = log_spectrogram(audio).to(self.device)
            return self.model.salience(spec[None])[0]

    def _embed_salience(self, windows: list[torch.Tensor]) -> np.ndarray:
        """One vector per window. Windows are batched by length, never padded: zero frames would
        count as silence in the trunk's mean over time (a short query's tempo variants differ
        in length)."""
        out = np.zeros((len(windows), self.dims), dtype=np.float32)
        by_width: dict[int, list[int]] = {}
        for i, w in enumerate(windows):
            by_width.setdefault(w.shape[1], []).append(i)
        with torch.inference_mode():
            for idx in by_width.values():
                for j in range(0, len(idx), BATCH):
                    chunk = idx[j : j + BATCH]
                    out[chunk] = self.model.embedding_net(torch.stack([windows[i] for i in chunk])).cpu().numpy()
        return out

    def _windows(self, sal: torch.Tensor, hop_s: float) -> tuple[list[torch.Tensor], np.ndarray]:
        n = sal.shape[1]
        starts = window_starts(n, int(FRAMES_PER_SECOND), self.window_s, hop_s)
        size = int(self.window_s * FRAMES_PER_SECOND)
        frames = (starts * FRAMES_PER_SECOND).astype(int)
        return [sal[:, f : f + size] for f in frames], starts

    def embed(self, windows: list[np.ndarray]) -> np.ndarray:
        return self._embed_salience([self.salience(w) for w in windows])

    def embed_song(self, audio: np.ndarray) -> SongEmbedding:
        """Window vectors plus the song's melody contour, both from one salience map."""
        return self.song_from_salience(self.salience(audio))

    def song_from_salience(self, sal: torch.Tensor) -> SongEmbedding:
        """embed_song, from the song's salience map (self.salience)."""
        windows, starts = self._windows(sal, self.hop_s)
        melody = contour_from_salience(sal.cpu(), voiced=SONG_VOICED_SALIENCE, candidates=SONG_CANDIDATES)
        return SongEmbedding(self._embed_salience(windows), starts, melody)

    def embed_query(self, audio: np.ndarray) -> QueryEmbedding:
        """Vectors of the query at several tempi, plus its melody contour (at its own tempo)."""
        return self.query_from_salience(self.salience(audio))

    def query_from_salience(self, sal: torch.Tensor) -> QueryEmbedding:
        """embed_query, from the query's salience map (self.salience)."""
        windows, offsets = [], []
        for stretch in QUERY_STRETCHES:
            stretched = F.interpolate(sal[None], size=max(int(sal.shape[1] * stretch), 2), mode="linear",
                                      align_corners=False)[0]
            w, starts = self._windows(stretched, QUERY_HOP_S)
            windows += w
            offsets.append(starts / stretch)  # back to seconds of the recorded query
        melody = contour_from_salience(sal.cpu())
        return QueryEmbedding(self._embed_salience(windows), np.concatenate(offsets), melody)
