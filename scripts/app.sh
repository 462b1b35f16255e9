#!/usr/bin/env bash
# Install (first time only) and start the app at http://localhost:${PORT:-8501}.
# On the first start it renders and indexes the demo catalog; see the README for settings.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/setup.sh
exec .venv/bin/streamlit run streamlit_app.py --server.headless true --server.port "${PORT:-8501}" \
  --browser.gatherUsageStats false
