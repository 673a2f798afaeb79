#!/usr/bin/env bash
# Opens JupyterLab on the notebooks. Offline (no OPENAI_API_KEY / OPENAI_BASE_URL) the notebooks
# start afnio's local model server themselves.
set -euo pipefail
port="${1:-8888}"
root="${2:-notebooks}"
cd "$(dirname "$0")/.."
args=(--notebook-dir="$root" --port="$port" --ServerApp.port_retries=50 --ip=127.0.0.1)
if [ -z "${DISPLAY:-}" ] && [ "$(uname)" != "Darwin" ]; then
  args+=(--no-browser)
fi
if [ "$(id -u)" = "0" ]; then
  args+=(--allow-root)
fi
if [ -z "${OPENAI_API_KEY:-}" ] && [ -z "${OPENAI_BASE_URL:-}" ]; then
  echo "No OPENAI_API_KEY or OPENAI_BASE_URL: the notebooks run offline against afnio's local model server."
fi
echo "Starting JupyterLab on http://127.0.0.1:${port}/lab (the exact URL with its token is printed below)"
exec .venv/bin/jupyter lab "${args[@]}"
