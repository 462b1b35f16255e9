"""Search backends behind one interface; `open_store` picks one from the config."""

from __future__ import annotations

from humsearch.config import Config
from humsearch.stores.base import FileState, IndexInfo, IndexSpec, SegmentHit, SongDoc, Store


def open_store(config: Config) -> Store:
    """The store named by `config.backend`, for index `config.index_name`.

    No request is sent yet: an unreachable Elasticsearch is reported by the first call
    (BackendUnavailableError naming the URL).
    """
    if config.backend == "elasticsearch":
        # Imported here: the client library is not needed for the default local backend.
        from humsearch.stores.elastic import ElasticStore, connect

        client = connect(
            config.es_url,
            api_key=config.es_api_key,
            user=config.es_user,
            password=config.es_password,
            ca_cert=config.es_ca_cert,
        )
        return ElasticStore(client, config.index_name, url=config.es_url)
    from humsearch.stores.local import LocalStore

    return LocalStore(config.local_index_dir)


__all__ = ["FileState", "IndexInfo", "IndexSpec", "SegmentHit", "SongDoc", "Store", "open_store"]
