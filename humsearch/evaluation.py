"""Query-by-humming evaluation: build a catalog, index it, run queries, score ranks.

Two query sets (both need ../shared/data, which the app itself never reads):
  - "mirqbsh": the 2,048 MIR-QBSH catalog melodies rendered with a backing band, and the
    19 real human pitch tracks voiced by a source-filter singer (humsearch.synth.formant_voice,
    a different synthesis from the training hums).
  - "pop909": all 909 POP909 arrangements, and 3 synthetic hums from random points of each
    of the 100 held-out songs (never trained on).
Rendered catalogs are cached (files are only written once), so a second run only indexes
(or reuses the index) and searches.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pretty_midi
import soundfile as sf

from humsearch.constants import MELODY_SAMPLE_RATE

DATA_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "data"
SETS = ("mirqbsh", "pop909")
CATALOG_SR = 16_000  # the model's rate: rendering and indexing 2,957 songs is CPU-bound
CATALOG_SOUNDFONT = "/usr/share/sounds/sf2/FluidR3_GM.sf2"
# Lead instruments for catalog melodies: voices, winds, strings, keys, synth leads.
CATALOG_LEADS = (0, 11, 22, 40, 52, 53, 54, 56, 65, 66, 68, 71, 73, 80, 81, 85)


@dataclass(frozen=True)
class Query:
    id: str
    audio: np.ndarray  # mono float32 at `sr`
    sr: int
    answer: str  # file stem of the right catalog song
    # A synthetic hum's sung pitch per model frame (MIDI, 0 = silent); None for real recordings.
    # Lets a benchmark tell the hum's contour errors from the song's (pop909_ceiling.py).
    sung_midi: np.ndarray | None = None


@dataclass(frozen=True)
class QueryResult:
    id: str
    answer: str
    rank: int | None  # 1-based; None when the answer is not in the returned list
    top: str  # stem of the first hit
    latency_s: float


def metrics(ranks: Sequence[int | None], *, k: int = 10) -> dict[str, float]:
    """top-1, top-k and mean reciprocal rank (a miss counts 0) of 1-based ranks."""
    r = np.array([0 if x is None else x for x in ranks], dtype=float)
    found = r > 0
    return {
        "queries": int(len(r)),
        "top1": float(np.mean(found & (r == 1))) if len(r) else 0.0,
        f"top{k}": float(np.mean(found & (r <= k))) if len(r) else 0.0,
        "mrr": float(np.mean(np.where(found, 1.0 / np.maximum(r, 1), 0.0))) if len(r) else 0.0,
    }


def _write_audio(path: Path, audio: np.ndarray, sr: int) -> None:
    # The partial file must not look like audio: an index run may be walking the folder.
    tmp = path.with_name(path.name + ".part")
    sf.write(tmp, audio, sr, format=path.suffix.lstrip(".").upper())
    tmp.replace(path)


def _render_with_band(notes: np.ndarray, tempo_bpm: float | None, rng: np.random.Generator) -> np.ndarray:
    from humsearch.synth.accompany import accompany
    from humsearch.synth.render import render_midi

    midi = pretty_midi.PrettyMIDI()
    lead = pretty_midi.Instrument(program=int(rng.choice(CATALOG_LEADS)), name="melody")
    vel = int(rng.integers(85, 110))
    lead.notes = [pretty_midi.Note(vel, int(p), s, e) for s, e, p in notes]
    midi.instruments = [lead, *accompany(notes, rng=rng, tempo_bpm=tempo_bpm)]
    for inst in midi.instruments[1:]:  # the band sits a little under the tune
        for n in inst.notes:
            n.velocity = int(np.clip(n.velocity * rng.uniform(0.6, 0.9), 1, 127))
    return render_midi(midi, sr=CATALOG_SR, soundfont=CATALOG_SOUNDFONT)


def build_mirqbsh_catalog(dest: Path, *, data: Path = DATA_DIR, limit: int | None = None,
                          progress: Callable[[int, int], None] | None = None) -> Path:
    """Render the MIR-QBSH catalog MIDIs (melody + band) to FLAC files in dest."""
    dest.mkdir(parents=True, exist_ok=True)
    mids = sorted((data / "mir-qbsh" / "catalog-midi").glob("*.mid"))[:limit]
    for i, mid in enumerate(mids):
        out = dest / f"{mid.stem}.flac"
        if not out.exists():
            pm = pretty_midi.PrettyMIDI(str(mid))
            notes = np.array(sorted((n.start, n.end, n.pitch) for inst in pm.instruments for n in inst.notes))
            tempo = float(pm.get_tempo_changes()[1][0]) if len(pm.get_tempo_changes()[1]) else None
            _write_audio(out, _render_with_band(notes, tempo, np.random.default_rng(int(mid.stem))), CATALOG_SR)
        if progress:
            progress(i + 1, len(mids))
    return dest


def mirqbsh_queries(*, data: Path = DATA_DIR, seed: int = 0) -> list[Query]:
    """The 19 real pitch tracks, voiced by the source-filter singer (hummed and sung)."""
    from humsearch.synth.formant_voice import sing_pitch_track

    rng = np.random.default_rng(seed)
    queries = []
    for pv in sorted((data / "mir-qbsh" / "queries-dev").glob("*.pv")):
        track = np.loadtxt(pv)
        answer = pv.stem.split("_")[2]
        audio = sing_pitch_track(track[:, 0], track[:, 1], sr=MELODY_SAMPLE_RATE, rng=rng,
                                 vowel=str(rng.choice(["mm", "ah"])))
        queries.append(Query(pv.stem, audio, MELODY_SAMPLE_RATE, answer))
    return queries


def _pop909_ids(data: Path) -> list[str]:
    return sorted(p.stem for p in (data / "pop909").glob("*.mid"))


def pop909_arrangement(sid: str, *, data: Path = DATA_DIR) -> pretty_midi.PrettyMIDI:
    """The arrangement the catalog renders for POP909 song `sid` (seeded, unlike training's)."""
    from humsearch.training.data import arrange

    midi = pretty_midi.PrettyMIDI(str(data / "pop909" / f"{sid}.mid"))
    return arrange(midi, np.random.default_rng(10_000 + int(sid)))[0]


def build_pop909_catalog(dest: Path, *, data: Path = DATA_DIR, limit: int | None = None,
                         progress: Callable[[int, int], None] | None = None) -> Path:
    """Render every POP909 song as a full arrangement (pop909_arrangement) to FLAC."""
    from humsearch.synth.render import render_midi

    dest.mkdir(parents=True, exist_ok=True)
    ids = _pop909_ids(data)[:limit]
    for i, sid in enumerate(ids):
        out = dest / f"pop909-{sid}.flac"
        if not out.exists():
            arranged = pop909_arrangement(sid, data=data)
            _write_audio(out, render_midi(arranged, sr=CATALOG_SR, soundfont=CATALOG_SOUNDFONT), CATALOG_SR)
        if progress:
            progress(i + 1, len(ids))
    return dest


def pop909_queries(*, data: Path = DATA_DIR, per_song: int = 3, seed: int = 0, limit: int | None = None) -> list[Query]:
    """Synthetic hums of 8-15 s passages starting at random points of the held-out songs.

    Catalog songs are rendered with time scale and transposition; the hums imitate the
    original MIDI, so tempo and key differ from the catalog as they would for a person.
    """
    from humsearch.synth.hum import synthesize_hum
    from humsearch.training.data import holdout_ids, melody_notes

    rng = np.random.default_rng(seed)
    queries = []
    for sid in sorted(holdout_ids())[:limit]:
        mel = melody_notes(pretty_midi.PrettyMIDI(str(data / "pop909" / f"{sid}.mid")))
        made = 0
        while made < per_song:
            length = rng.uniform(8, 15)
            start = rng.uniform(mel[0, 0], max(mel[-1, 1] - length, mel[0, 0] + 1))
            sel = mel[(mel[:, 0] >= start) & (mel[:, 0] < start + length)]
            if len(sel) < 5:
                continue
            hum = synthesize_hum(sel - [start, start, 0], sr=MELODY_SAMPLE_RATE, rng=rng)
            queries.append(Query(f"{sid}-{made}@{start:.0f}s", hum.audio, MELODY_SAMPLE_RATE, f"pop909-{sid}",
                                 hum.f0_midi))
            made += 1
    return queries


def run_queries(queries: Sequence[Query], *, embedder, store, k: int = 10, rerank: bool = True,
                progress: Callable[[int, int], None] | None = None, **search_options) -> list[QueryResult]:
    """Search every query (search.search, melody re-ranking on or off, other search() keywords
    passed on); the rank is where the answer's file stem appears."""
    import librosa

    from search import search

    results = []
    for i, q in enumerate(queries):
        audio = q.audio if q.sr == embedder.sample_rate else librosa.resample(
            q.audio, orig_sr=q.sr, target_sr=embedder.sample_rate)
        t0 = time.perf_counter()
        hits = search(audio, embedder=embedder, store=store, k=k, rerank=rerank, **search_options)
        latency = time.perf_counter() - t0
        stems = [Path(h.path).stem for h in hits]
        rank = stems.index(q.answer) + 1 if q.answer in stems else None
        results.append(QueryResult(q.id, q.answer, rank, stems[0] if stems else "", latency))
        if progress:
            progress(i + 1, len(queries))
    return results


def report(results: Sequence[QueryResult], *, k: int = 10) -> dict:
    """Metrics, latency summary and per-query rows, ready for a table or JSON."""
    lat = np.array([r.latency_s for r in results]) if results else np.zeros(1)
    return {
        **metrics([r.rank for r in results], k=k),
        "latency_ms_median": float(np.median(lat) * 1000),
        "latency_ms_p90": float(np.percentile(lat, 90) * 1000),
        "per_query": [asdict(r) for r in results],
    }


def format_table(name: str, rep: dict, *, k: int = 10, baseline: dict | None = None) -> str:
    """Human-readable summary (and the baseline's numbers on the same queries, if any)."""
    lines = [f"{name}: {rep['queries']} queries",
             f"  {'':14s} {'top-1':>7s} {f'top-{k}':>7s} {'MRR':>7s}",
             f"  {'this run':14s} {rep['top1']:7.3f} {rep[f'top{k}']:7.3f} {rep['mrr']:7.3f}"]
    if baseline:
        lines.append(f"  {baseline['name']:14s} {baseline['top1']:7.3f} {baseline[f'top{k}']:7.3f} {baseline['mrr']:7.3f}")
    lines.append(f"  latency per query: median {rep['latency_ms_median']:.0f} ms, p90 {rep['latency_ms_p90']:.0f} ms")
    lines.append("  per query (rank, '-' = not in top list):")
    for r in rep["per_query"]:
        lines.append(f"    {r['id']:45s} answer {r['answer']:12s} rank {r['rank'] or '-':>3}  top {r['top']}")
    return "\n".join(lines)


def dtw_baseline(*, data: Path = DATA_DIR, k: int = 10) -> dict:
    """The published DTW baseline's ranks on the MIR-QBSH dev queries (its top-10 lists)."""
    ranks = []
    for line in (data / "mir-qbsh" / "baseline-dtw-dev.txt").read_text().splitlines():
        if not line.strip():
            continue
        name, *top = line.split()  # "<query>.pv:" then its top-10 catalog ids
        answer = name.split("_")[2]
        ranks.append(top.index(answer) + 1 if answer in top else None)
    return {"name": "DTW baseline", **metrics(ranks, k=k)}


def run_eval(set_name: str, *, embedder, store, cache_dir: Path, k: int = 10, limit: int | None = None,
             rebuild: bool = False, progress: Callable[[str, int, int], None] | None = None,
             rerank: bool = True) -> dict:
    """Render (cached) and index a catalog, run its queries, return the report.

    Args:
        set_name: one of SETS.
        embedder, store: what to evaluate (any embedder, any backend).
        cache_dir: where rendered catalogs are kept between runs.
        limit: only the first `limit` catalog songs (queries whose answer is left out are dropped).
        rebuild: rebuild the index from scratch instead of updating it incrementally.
        progress: callback(stage, done, total).
        rerank: let search re-rank by melody alignment (when the embedder gives contours).

    Returns:
        report() of the results, plus the set name, index statistics and, for MIR-QBSH,
        the DTW baseline measured on the same queries.
    """
    from indexer import index_folder

    step = (lambda stage: (lambda d, n: progress(stage, d, n))) if progress else (lambda stage: None)
    if set_name == "mirqbsh":
        catalog = build_mirqbsh_catalog(cache_dir / "mirqbsh-catalog", limit=limit, progress=step("render"))
        queries = mirqbsh_queries()
        baseline = dtw_baseline(k=k)
    elif set_name == "pop909":
        catalog = build_pop909_catalog(cache_dir / "pop909-catalog", limit=limit, progress=step("render"))
        queries = pop909_queries()
        baseline = None
    else:
        raise ValueError(f"unknown query set {set_name!r}; choose one of {SETS}")
    stems = {p.stem for p in catalog.iterdir() if p.suffix == ".flac"}
    queries = [q for q in queries if q.answer in stems]
    index_step = step("index")
    t0 = time.perf_counter()
    indexed = index_folder([catalog], embedder=embedder, store=store, rebuild=rebuild,
                           progress=(lambda d, n, _path: index_step(d, n)) if progress else None)
    index_s = time.perf_counter() - t0
    rep = report(run_queries(queries, embedder=embedder, store=store, k=k, rerank=rerank, progress=step("search")),
                 k=k)
    rep.update({"set": set_name, "embedder": embedder.name, "model_version": embedder.version, "rerank": rerank,
                "catalog_songs": len(stems), "index_seconds": index_s,
                "indexed": {"added": indexed.added, "updated": indexed.updated, "unchanged": indexed.unchanged,
                            "failed": len(indexed.failed)}})
    if baseline is not None:
        rep["baseline"] = baseline
    return rep
