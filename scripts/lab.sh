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
# JupyterLab only needs Node.js to rebuild itself, which the widgets never require (their bundle is
# prebuilt). Without node on PATH it also skips a yarn configuration probe that fails noisily.
lab_path=""
IFS=: read -ra dirs <<< "$PATH"
for d in "${dirs[@]}"; do
  [ -x "$d/node" ] || lab_path="${lab_path:+$lab_path:}$d"
done
echo "Starting JupyterLab on http://127.0.0.1:${port}/lab (the exact URL with its token is printed below)"
PATH="$lab_path" exec .venv/bin/jupyter lab "${args[@]}"
