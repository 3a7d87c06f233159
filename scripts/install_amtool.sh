#!/usr/bin/env bash
# amtool (Alertmanager 0.25, Debian's `prometheus-alertmanager` package) checks the Alertmanager config
# the program renders. Installs it when missing: as root directly, otherwise through sudo.
set -euo pipefail
if command -v amtool >/dev/null 2>&1; then exit 0; fi
if [ "$(id -u)" -eq 0 ]; then SUDO=""; elif command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
  echo "amtool is missing: install Debian's 'prometheus-alertmanager' package (apt-get install prometheus-alertmanager)" >&2; exit 1
fi
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends prometheus-alertmanager >/dev/null
amtool --version 2>&1 | head -1
