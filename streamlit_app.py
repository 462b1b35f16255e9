"""humsearch in the browser: hum or upload a tune, see the songs it matches, play them from the
matched moment; the sidebar shows the index, the Library tab (re)indexes a folder.

UI only: the library does the work (indexer.index_folder, search.search, humsearch.*). The
model and the store are opened once per process with Streamlit's resource cache; every
HumSearchError becomes a readable message instead of a traceback.

    streamlit run streamlit_app.py      (scripts/app.sh installs first, then runs this)
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
import time
from collections.abc import Callable
from pathlib import Path

import streamlit as st
from streamlit.runtime.uploaded_file_manager import UploadedFile

from humsearch import embedders
from humsearch.audio import load_audio
from humsearch.config import Config
from humsearch.demo import catalog
from humsearch.display import clock
from humsearch.embedders.base import Embedder
from humsearch.errors import ConfigError, HumSearchError, ModelNotFoundError
from humsearch.melody import rerank as melody_rerank
from humsearch.stores import IndexSpec, Store, open_store
from indexer import IndexReport, index_folder
from search import Hit, search

UPLOAD_TYPES = ["wav", "mp3", "flac", "ogg", "m4a"]
RESULTS = 10  # songs listed per query

Progress = Callable[[int, int, str], None]


# ---------------------------------------------------------------- resources (once per process)


@st.cache_resource(show_spinner="Loading the model…")
def get_embedder(_config: Config, key: str) -> Embedder:
    """The configured embedder; `key` (the config's repr) is what the cache hashes."""
    embedder = embedders.load_embedder(
        _config.embedder, checkpoint=_config.checkpoint, window_s=_config.window_s, hop_s=_config.hop_s,
        threads=_config.threads,
    )
    melody_rerank.warm_up()  # under the same spinner, not in the first search
    return embedder


@st.cache_resource
def get_store(_config: Config, key: str) -> Store:
    return open_store(_config)


@st.cache_resource
def setup_lock(key: str) -> threading.Lock:
    """Serialises the first-start demo setup between browser sessions of one process."""
    return threading.Lock()


# ---------------------------------------------------------------- helpers


def plain(text: str) -> str:
    """Text shown literally inside markdown: file names may hold *, _, [, ], $ (LaTeX in
    Streamlit), :name: (emoji) and so on."""
    return re.sub(r"([\\`*_\[\]<>#|$~:])", r"\\\1", text)


def progress_bar(label: str, unit: str) -> Progress:
    """A progress bar and the callback that drives it: done/total, rate and time left."""
    bar = st.progress(0.0, text=f"{label}…")
    started = time.monotonic()

    def update(done: int, total: int, item: str) -> None:
        elapsed = time.monotonic() - started
        rate = done / elapsed if done and elapsed > 0 else 0.0
        parts = [f"{label}: {done}/{total} {unit}"]
        if rate:
            parts.append(f"{rate:.1f} {unit}/s" if rate < 10 else f"{rate:.0f} {unit}/s")
            parts.append(f"about {clock((total - done) / rate)} left" if done < total else f"{clock(elapsed)} in all")
        if item:
            parts.append(Path(item).name)
        bar.progress(done / total if total else 1.0, text=" · ".join(parts))

    return update


def message(error: Exception) -> str:
    """An error's message as a sentence (the library writes them in lower case for logs)."""
    text = str(error)
    return text[:1].upper() + text[1:]


def index_with_progress(roots: list[str], *, embedder: Embedder, store: Store, rebuild: bool = False) -> IndexReport:
    report = index_folder(roots, embedder=embedder, store=store, rebuild=rebuild,
                          progress=progress_bar("Indexing", "files"))
    st.session_state["index_version"] = st.session_state.get("index_version", 0) + 1  # results are stale now
    return report


# ---------------------------------------------------------------- first start


def set_up_demo(config: Config, store: Store, embedder: Embedder) -> None:
    """First start (empty index, no music folders configured): render and index the demo catalog."""
    with setup_lock(repr(config)):
        if store.info().songs:  # another browser session did it while this one waited
            return
        st.info("First start: preparing a demo catalog of public-domain tunes to search in. "
                "This takes about a minute and happens only once.")
        catalog.build_demo_catalog(config.demo_catalog_dir, progress=progress_bar("Rendering demo songs", "songs"))
        report = index_with_progress([str(config.demo_catalog_dir)], embedder=embedder, store=store)
    st.session_state["last_report"] = (str(config.demo_catalog_dir), report)
    st.rerun()


def other_model(spec: IndexSpec | None, embedder: Embedder | None) -> bool:
    """Whether an index was built by another embedder or model version than the running one."""
    return bool(spec and embedder) and (spec.embedder, spec.model_version) != (embedder.name, embedder.version)


def only_demo(config: Config, store: Store) -> bool:
    """Whether every song in the index comes from the demo catalog the app built itself."""
    demo = config.demo_catalog_dir.resolve()
    return demo.is_dir() and all(Path(s.path).resolve().is_relative_to(demo) for s in store.file_states().values())


def refresh_demo(config: Config, store: Store, embedder: Embedder) -> None:
    """The demo catalog was indexed by an earlier model (the app was updated): index it again.
    Only the demo, which the app built unasked; a user's own folders are rebuilt when they say so
    (Library tab), because that can take long."""
    with setup_lock(repr(config)):
        spec = store.spec()
        if not other_model(spec, embedder):  # another browser session did it while this one waited
            return
        st.info(f"The app's model changed since the demo catalog was indexed "
                f"({model_name(spec.embedder, spec.model_version)} → {model_name(embedder.name, embedder.version)}): "
                "indexing it again. This takes about a minute.")
        report = index_with_progress([str(config.demo_catalog_dir)], embedder=embedder, store=store, rebuild=True)
    st.session_state["last_report"] = (str(config.demo_catalog_dir), report)
    st.rerun()


# ---------------------------------------------------------------- search tab


def remember_source(name: str) -> None:
    st.session_state["query_source"] = name


def pick_query() -> UploadedFile | None:
    """The recording or the uploaded file, whichever the user gave last."""
    left, right = st.columns(2)
    with left:
        recording = st.audio_input("Record", on_change=remember_source, args=("recording",),
                                   help="Hum, sing or whistle for 10-20 seconds.")
    with right:
        upload = st.file_uploader("…or upload a clip", type=UPLOAD_TYPES, on_change=remember_source,
                                  args=("upload",))
    latest = {"recording": recording, "upload": upload}.get(st.session_state.get("query_source", ""))
    return latest or recording or upload


def search_tab(store: Store, embedder: Embedder | None, *, rerank: bool) -> None:
    query = pick_query()
    if query is None:
        return
    if embedder is None:
        st.warning("Searching needs the model (see the message above).")
        return
    data = query.getvalue()
    key = (hashlib.sha1(data).hexdigest(), st.session_state.get("index_version", 0))
    if st.session_state.get("results_key") != key:
        try:
            with st.spinner("Listening…"):
                started = time.monotonic()
                audio = load_audio(query, sr=embedder.sample_rate)
                hits = search(audio, embedder=embedder, store=store, k=RESULTS, rerank=rerank)
                took = time.monotonic() - started
        except HumSearchError as e:
            st.error(message(e))
            return
        st.session_state["results_key"] = key
        st.session_state["results"] = (hits, len(audio) / embedder.sample_rate, took)
    hits, query_s, took = st.session_state["results"]
    show_results(hits, query_s=query_s, took=took)


def show_results(hits: list[Hit], *, query_s: float, took: float) -> None:
    if not hits:
        st.info("No match: the index is empty, or nothing sounds like this.")
        return
    st.subheader("Best matches")
    st.caption(f"{len(hits)} songs for a {query_s:.1f} s query, found in {took:.1f} s. "
               "Each player starts where the song matches.")
    for hit in hits:
        with st.container(border=True):
            rank, title, score = st.columns([0.6, 5, 1.4], vertical_alignment="center")
            rank.markdown(f"#### {hit.rank}")
            where = f"{clock(hit.start_s)}–{clock(hit.end_s)} · {plain(Path(hit.path).name)}"
            title.markdown(f"**{plain(hit.title)}**  \n:gray[{where}]")
            score.markdown(f"#### {hit.percent:.0f}%")
            if Path(hit.path).is_file():
                st.audio(hit.path, start_time=int(hit.start_s))
            else:
                st.caption(f"File not found: {hit.path} (reindex to drop it)")


# ---------------------------------------------------------------- library tab


def library_tab(config: Config, store: Store, embedder: Embedder | None) -> None:
    st.markdown("Index a folder of music (wav, mp3, flac, ogg, m4a…, searched recursively). "
                "Unchanged files are skipped, changed ones re-read, deleted ones dropped.")
    default = os.pathsep.join(config.music_dirs) or str(config.demo_catalog_dir)
    with st.form("reindex"):
        folder = st.text_input("Music folder", value=default,
                               help=f"Several folders: separate them with '{os.pathsep}'.")
        rebuild = st.checkbox("Rebuild from scratch", help="Build a fresh index and swap it in when done.")
        start = st.form_submit_button("Index folder", type="primary", disabled=embedder is None)
    if start and embedder is not None:
        roots = [p.strip() for p in folder.split(os.pathsep) if p.strip()]
        try:
            report = index_with_progress(roots, embedder=embedder, store=store, rebuild=rebuild)
        except HumSearchError as e:
            st.error(message(e))
        else:
            st.session_state["last_report"] = (folder, report)
            st.rerun()  # the search tab, drawn earlier on this page, must see the new index
    if "last_report" in st.session_state:
        show_report(*st.session_state["last_report"])


def show_report(folder: str, report: IndexReport) -> None:
    files = report.added + report.updated + report.unchanged + len(report.failed)
    speed = f", {report.realtime_factor:.0f}× realtime" if report.audio_seconds else ""
    message = f"Indexed {files} files from {folder} in {report.seconds:.1f} s{speed}."
    (st.warning if report.failed else st.success)(message)
    cols = st.columns(5)
    for col, (label, value) in zip(cols, [("Added", report.added), ("Updated", report.updated),
                                          ("Unchanged", report.unchanged), ("Removed", report.removed),
                                          ("Failed", len(report.failed))]):
        col.metric(label, value)
    if report.failed:
        with st.expander(f"{len(report.failed)} files could not be read", expanded=True):
            for path, reason in report.failed:
                st.markdown(f"- {plain(path)}: {plain(reason)}")


# ---------------------------------------------------------------- sidebar


def model_name(embedder: str, version: str) -> str:
    """"melody-v1" rather than "melody melody-v1" when the version already names the model."""
    return version if version.startswith(embedder) else f"{embedder} {version}"


def sidebar(config: Config, store: Store, embedder: Embedder | None) -> None:
    with st.sidebar:
        st.header("Index")
        try:
            info = store.info()  # again: indexing may have run since the top of the page
        except HumSearchError:
            st.caption("Status unavailable (see the message on the page).")
            return
        songs, segments = st.columns(2)
        songs.metric("Songs", f"{info.songs:,}")
        segments.metric("Segments", f"{info.segments:,}")
        built = model_name(info.spec.embedder, info.spec.model_version) if info.spec else "—"
        rows = [("Backend", info.backend), ("Index", info.index), ("Embedder", built)]
        st.markdown("\n".join(f"- **{k}:** `{v}`" for k, v in rows))
        if info.location:
            st.caption(info.location)
        if other_model(info.spec, embedder):
            running = model_name(embedder.name, embedder.version)
            st.warning(f"The index was built with {built}, the app runs {running}: rebuild it from the Library tab.")


# ---------------------------------------------------------------- page


def main() -> None:
    # Material icons come with Streamlit; emoji would depend on the fonts of the viewer's system.
    st.set_page_config(page_title="humsearch", page_icon=":material/graphic_eq:", layout="centered")
    st.title(":material/graphic_eq: humsearch")
    st.caption("Hum a tune, find the song in your music folder.")
    try:
        config = Config.from_env()
    except ConfigError as e:
        st.error(f"Configuration error: {e}")
        st.stop()
    store = get_store(config, repr(config))

    embedder: Embedder | None = None
    try:
        embedder = get_embedder(config, repr(config))
    except ModelNotFoundError as e:
        st.error(f"The {config.embedder} model is not available: {e}")
    except HumSearchError as e:
        st.error(message(e))

    try:
        info = store.info()
    except HumSearchError as e:  # e.g. Elasticsearch down: the message names its URL
        st.error(message(e))
    else:
        if embedder is not None and not config.music_dirs:
            if not info.songs:
                set_up_demo(config, store, embedder)
            elif other_model(info.spec, embedder) and only_demo(config, store):
                refresh_demo(config, store, embedder)

    search_panel, library_panel = st.tabs([":material/search: Search", ":material/library_music: Library"])
    with search_panel:
        st.markdown("**Record** a few bars (10–20 s is plenty) or **upload** a clip. "
                    "The best matches come first; press play to hear each from the matching moment.")
        search_tab(store, embedder, rerank=config.rerank)
    with library_panel:
        library_tab(config, store, embedder)
    sidebar(config, store, embedder)


main()
