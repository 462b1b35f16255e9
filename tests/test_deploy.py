"""docker-compose.yml cannot run here; these checks keep it in step with what the tests run."""

from __future__ import annotations

import re
from pathlib import Path

from humsearch.config import ENV_VARS

ROOT = Path(__file__).resolve().parents[1]


def test_compose_runs_the_elasticsearch_version_the_tests_use() -> None:
    script = (ROOT / "scripts" / "elasticsearch.sh").read_text()
    compose = (ROOT / "docker-compose.yml").read_text()
    [tested] = re.findall(r"^ES_VERSION=(\S+)$", script, flags=re.M)
    assert re.findall(r"image: docker\.elastic\.co/elasticsearch/elasticsearch:(\S+)", compose) == [tested]
    for setting in ("xpack.security.enabled", "cluster.routing.allocation.disk.threshold_enabled", "discovery.type"):
        assert setting in script and setting in compose


def test_compose_and_dockerfile_only_set_known_variables() -> None:
    text = (ROOT / "docker-compose.yml").read_text() + (ROOT / "Dockerfile").read_text()
    used = set(re.findall(r"\b(HUMSEARCH_[A-Z_]+)", text))
    assert used and used <= set(ENV_VARS.values())
