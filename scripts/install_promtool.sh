#!/usr/bin/env bash
# promtool (Prometheus 2.42, Debian's `prometheus` package) checks and unit-tests the kit's rules.
# Installs it when missing: as root directly, otherwise through sudo.
set -euo pipefail
if command -v promtool >/dev/null 2>&1; then exit 0; fi
if [ "$(id -u)" -eq 0 ]; then SUDO=""; elif command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
  echo "promtool is missing: install Debian's 'prometheus' package (apt-get install prometheus)" >&2; exit 1
fi
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends prometheus >/dev/null
promtool --version | head -1
