#!/usr/bin/env bash
# promtool checks and unit-tests the kit's Prometheus rules; only `make test` needs it, never `make plan`.
# No PyPI or npm package ships it, so: nothing to do when it is on PATH; Homebrew's `prometheus` formula on
# macOS (no root); Debian's `prometheus` package (2.42 on bookworm) through apt-get, as root or with sudo;
# otherwise one line saying what to install.
set -euo pipefail
if command -v promtool >/dev/null 2>&1; then exit 0; fi
if command -v brew >/dev/null 2>&1; then
  brew install --quiet prometheus
elif command -v apt-get >/dev/null 2>&1 && { [ "$(id -u)" -eq 0 ] || command -v sudo >/dev/null 2>&1; }; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends prometheus >/dev/null
else
  echo "promtool is missing (needed by make test only): install Prometheus 2.x (brew install prometheus, apt-get install prometheus, or a release from prometheus.io) so promtool is on PATH" >&2
  exit 1
fi
promtool --version | head -1
