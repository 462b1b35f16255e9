#!/usr/bin/env bash
# Run a throwaway single-node Elasticsearch on 127.0.0.1 for tests and CI.
#
#   scripts/elasticsearch.sh start|stop|status|url
#
# Downloads the integ-test distribution from Maven Central once (cached), unzips it and runs it
# with the machine's JDK 17. Elasticsearch refuses to run as root, so as root the script runs it
# as an unprivileged user it creates. This distribution has no scripting and no reindex module:
# the project uses only kNN, nested fields, bulk and aliases.
#
# Environment: HUMSEARCH_ES_PORT (9200), ES_JAVA_HOME (JDK 17), HUMSEARCH_ES_TIMEOUT_S (120).
set -euo pipefail

ES_VERSION=8.19.21
ES_URL_ZIP="https://repo1.maven.org/maven2/org/elasticsearch/distribution/integ-test-zip/elasticsearch/${ES_VERSION}/elasticsearch-${ES_VERSION}.zip"
PORT="${HUMSEARCH_ES_PORT:-9200}"
TIMEOUT_S="${HUMSEARCH_ES_TIMEOUT_S:-120}"
JAVA_HOME_17="${ES_JAVA_HOME:-/usr/lib/jvm/java-17-openjdk-amd64}"
ES_USER=humsearch-es

CACHE_DIR="${XDG_CACHE_HOME:-$HOME/.cache}/humsearch"
ZIP="$CACHE_DIR/elasticsearch-${ES_VERSION}.zip"
if [[ $(id -u) -eq 0 ]]; then
  # root's home is private (0700): the unprivileged user could not reach a copy under it.
  RUN_BASE=/var/cache/humsearch
else
  RUN_BASE="$CACHE_DIR"
fi
ES_HOME="$RUN_BASE/elasticsearch-${ES_VERSION}"
PID_FILE="$ES_HOME/es-${PORT}.pid"
LOG_FILE="$ES_HOME/logs/humsearch-test.log"
URL="http://127.0.0.1:${PORT}"

log() { echo "elasticsearch.sh: $*" >&2; }

as_es_user() {
  if [[ $(id -u) -eq 0 ]]; then
    runuser -u "$ES_USER" -- "$@"
  else
    "$@"
  fi
}

install_es() {
  mkdir -p "$CACHE_DIR"
  if [[ ! -s "$ZIP" ]]; then
    log "downloading Elasticsearch ${ES_VERSION}"
    curl -fsSL --retry 3 -o "$ZIP.part" "$ES_URL_ZIP"
    mv "$ZIP.part" "$ZIP"
  fi
  if [[ ! -x "$ES_HOME/bin/elasticsearch" ]]; then
    mkdir -p "$RUN_BASE"
    rm -rf "$ES_HOME.part"
    mkdir -p "$ES_HOME.part"
    unzip -q "$ZIP" -d "$ES_HOME.part"
    mv "$ES_HOME.part/elasticsearch-${ES_VERSION}" "$ES_HOME"
    rmdir "$ES_HOME.part"
  fi
  if [[ $(id -u) -eq 0 ]]; then
    id "$ES_USER" >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin "$ES_USER"
    chown -R "$ES_USER" "$ES_HOME"
  fi
}

running_pid() {
  [[ -f "$PID_FILE" ]] || return 1
  local pid
  pid=$(cat "$PID_FILE" 2>/dev/null) || return 1
  [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null && echo "$pid"
}

healthy() {
  curl -fsS --max-time 2 "$URL/_cluster/health" 2>/dev/null | grep -qE '"status":"(green|yellow)"'
}

start() {
  if running_pid >/dev/null; then
    log "already running at $URL"
    return 0
  fi
  if healthy; then
    log "something else already answers at $URL; set HUMSEARCH_ES_PORT to use another port"
    return 1
  fi
  [[ -x "$JAVA_HOME_17/bin/java" ]] || { log "no JDK at $JAVA_HOME_17 (set ES_JAVA_HOME)"; return 1; }
  install_es
  log "starting Elasticsearch ${ES_VERSION} at $URL"
  as_es_user env ES_JAVA_HOME="$JAVA_HOME_17" ES_JAVA_OPTS="-Xms1g -Xmx1g" \
    "$ES_HOME/bin/elasticsearch" -d -p "$PID_FILE" \
    -E cluster.name=humsearch-test \
    -E discovery.type=single-node \
    -E network.host=127.0.0.1 \
    -E http.port="$PORT" \
    -E xpack.security.enabled=false \
    -E cluster.routing.allocation.disk.threshold_enabled=false \
    >"$ES_HOME/logs/startup-${PORT}.out" 2>&1 || {
      log "failed to launch; output:"
      tail -n 40 "$ES_HOME/logs/startup-${PORT}.out" >&2 || true
      return 1
    }
  local waited=0
  until healthy; do
    if ((waited >= TIMEOUT_S)) || ! running_pid >/dev/null; then
      log "not healthy after ${waited}s; log tail:"
      tail -n 60 "$LOG_FILE" >&2 2>/dev/null || tail -n 60 "$ES_HOME/logs/startup-${PORT}.out" >&2 || true
      stop || true
      return 1
    fi
    sleep 1
    waited=$((waited + 1))
  done
  log "healthy after ${waited}s"
}

stop() {
  local pid
  if ! pid=$(running_pid); then
    log "not running"
    rm -f "$PID_FILE"
    return 0
  fi
  kill "$pid"
  local waited=0
  while kill -0 "$pid" 2>/dev/null; do
    if ((waited >= 60)); then
      log "still running after 60s; killing"
      kill -9 "$pid" 2>/dev/null || true
    fi
    sleep 1
    waited=$((waited + 1))
  done
  rm -f "$PID_FILE"
  log "stopped"
}

status() {
  if running_pid >/dev/null && healthy; then
    echo "running at $URL"
  elif running_pid >/dev/null; then
    echo "started but not healthy at $URL"
    return 1
  else
    echo "not running"
    return 3
  fi
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  url) echo "$URL" ;;
  *) echo "usage: $0 {start|stop|status|url}" >&2; exit 64 ;;
esac
