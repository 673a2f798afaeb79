#!/usr/bin/env bash
# Makes Debian's Chromium available for the browser tests, when it is missing and we are root.
set -euo pipefail
if command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ]; then
  exit 0
fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "Installing Chromium for the browser tests (apt-get install chromium)..."
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  exit 0
fi
if [ "${CI:-}" = "true" ]; then
  echo "ERROR: Chromium is missing and cannot be installed (not root); CI needs the browser tests." >&2
  exit 1
fi
echo "################################################################################"
echo "# WARNING: Chromium is not installed and this user cannot install it.          #"
echo "# The browser tests will be SKIPPED. Install it with: apt-get install chromium #"
echo "################################################################################"
