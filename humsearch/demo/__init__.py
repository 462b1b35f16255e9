"""The demo catalog: public-domain tunes written down by hand and rendered with a backing band."""

from humsearch.demo.catalog import build_demo_catalog

__all__ = ["build_demo_catalog"]
