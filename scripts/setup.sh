#!/usr/bin/env bash
# Create .venv at the project root and install everything the project needs.
#
#   scripts/setup.sh          install (skipped when the requirements did not change)
#   source scripts/setup.sh   the same, then activate .venv in the current shell
#
# A stamp file named after the hash of the requirements files and pyproject.toml marks a
# finished install. HUMSEARCH_PYTHON picks the interpreter for a new venv (python3.11).

humsearch_setup() (
  set -euo pipefail
  local root venv python hash stamp
  root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
  venv="$root/.venv"
  python="${HUMSEARCH_PYTHON:-python3.11}"
  hash="$(cat "$root"/requirements*.txt "$root/pyproject.toml" | sha256sum | cut -c1-16)"
  stamp="$venv/.humsearch-setup-$hash"
  [[ -f "$stamp" ]] && return 0

  if [[ ! -x "$venv/bin/python" ]]; then
    command -v "$python" >/dev/null || { echo "setup.sh: $python not found (set HUMSEARCH_PYTHON)" >&2; return 1; }
    echo "setup.sh: creating $venv with $python" >&2
    "$python" -m venv "$venv"
  fi
  local pip=("$venv/bin/python" -m pip --disable-pip-version-check -q)
  echo "setup.sh: installing requirements (the first time downloads torch: several minutes)" >&2
  "${pip[@]}" install -r "$root/requirements-dev.txt"
  # Packages whose declared dependencies we do not want (see the comments in the file).
  "${pip[@]}" install --no-deps -r "$root/requirements-nodeps.txt"
  "${pip[@]}" install --no-deps -e "$root"
  rm -f "$venv"/.humsearch-setup-*
  touch "$stamp"
  echo "setup.sh: done" >&2
)

if [[ "${BASH_SOURCE[0]}" != "$0" ]]; then
  # Sourced: install, then activate the venv in the caller's shell.
  humsearch_setup && source "$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/.venv/bin/activate"
else
  humsearch_setup
fi
