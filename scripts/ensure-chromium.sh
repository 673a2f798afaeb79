#!/usr/bin/env bash
# Makes Debian's Chromium available for the browser tests, when it is missing and we are root.
# Says what it is about to do, and why, before doing it; apt's own output is shown.
set -euo pipefail
chromium="${AFNIO_CHROMIUM:-/usr/bin/chromium}"  # where Playwright is pointed (tests/browser)
if [ -x "$chromium" ] || { [ -z "${AFNIO_CHROMIUM:-}" ] && command -v chromium >/dev/null 2>&1; }; then
  exit 0
fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "Chromium is not installed ($chromium is missing), and the browser tests (tests/browser)"
  echo "drive it through Playwright. Installing Debian's chromium package now, as root:"
  echo "  apt-get update && apt-get install -y chromium"
  apt-get update
  DEBIAN_FRONTEND=noninteractive apt-get install -y chromium
  echo "Chromium installed."
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
