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
# PATH is passed on untouched: kernels started from this JupyterLab need it (ls, git, and dot for
# `to_dot(...)`). The widgets' bundles are prebuilt, so JupyterLab never needs to rebuild itself:
# its page is told so (no build check, no build offer), which also keeps it from probing Node.js
# and yarn when a notebook opens.
args+=('--ServerApp.tornado_settings={"page_config_data": {"buildCheck": False, "buildAvailable": False}}')
echo "Starting JupyterLab on http://127.0.0.1:${port}/lab (the exact URL with its token is printed below)"
exec .venv/bin/jupyter lab "${args[@]}"
