#!/usr/bin/env bash
# The test command: set up, start Elasticsearch, run pytest, stop Elasticsearch.
#
#   scripts/test.sh [PYTEST ARGS...]     e.g. scripts/test.sh -m "not slow" -x
#
# With HUMSEARCH_TEST_ES_URL already set, that cluster is used and none is started. An
# Elasticsearch already running from scripts/elasticsearch.sh is reused and left running.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
if [[ -z "${HUMSEARCH_TEST_ES_URL:-}" ]]; then
  if ! scripts/elasticsearch.sh status >/dev/null 2>&1; then
    trap 'scripts/elasticsearch.sh stop' EXIT
    scripts/elasticsearch.sh start
  fi
  HUMSEARCH_TEST_ES_URL="$(scripts/elasticsearch.sh url)"
  export HUMSEARCH_TEST_ES_URL
fi
.venv/bin/python -m pytest "$@"
