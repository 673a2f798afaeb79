#!/usr/bin/env bash
# Makes the system programs the tests drive available, when they are missing and we are root:
# Debian's Chromium (the browser tests, tests/browser) and Graphviz's `dot` (the test that renders
# to_dot's output). Says what it is about to do, and why, before doing it; apt's own output is
# shown.
set -euo pipefail
chromium="${AFNIO_CHROMIUM:-/usr/bin/chromium}"  # where Playwright is pointed (tests/browser)
dot="${AFNIO_DOT:-dot}"                          # what the Graphviz test runs

packages=()
reasons=()
if ! { [ -x "$chromium" ] || { [ -z "${AFNIO_CHROMIUM:-}" ] && command -v chromium >/dev/null 2>&1; }; }; then
  packages+=(chromium)
  reasons+=("Chromium is not installed ($chromium is missing), and the browser tests (tests/browser) drive it through Playwright.")
fi
if ! command -v "$dot" >/dev/null 2>&1; then
  packages+=(graphviz)
  reasons+=("Graphviz is not installed ($dot is missing), and a test renders to_dot's output with it.")
fi
if [ "${#packages[@]}" -eq 0 ]; then
  exit 0
fi

if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  printf '%s\n' "${reasons[@]}"
  echo "Installing Debian's ${packages[*]} package(s) now, as root:"
  echo "  apt-get update && apt-get install -y ${packages[*]}"
  apt-get update
  DEBIAN_FRONTEND=noninteractive apt-get install -y "${packages[@]}"
  echo "Installed: ${packages[*]}."
  exit 0
fi
if [ "${CI:-}" = "true" ]; then
  printf '%s\n' "${reasons[@]}" >&2
  echo "ERROR: ${packages[*]} missing and cannot be installed (not root); CI runs every test." >&2
  exit 1
fi
echo "################################################################################"
echo "# WARNING: missing and this user cannot install them: ${packages[*]}"
printf '#   %s\n' "${reasons[@]}"
echo "# Those tests will be SKIPPED. Install with: apt-get install ${packages[*]}"
echo "################################################################################"
