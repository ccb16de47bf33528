#!/usr/bin/env bash
# A headless Chromium for the dashboard test and screenshot, from Debian (no download from a CDN).
#
#   scripts/chromium.sh          install Debian's chromium if missing, print its executable path
#   scripts/chromium.sh path     print the executable path if installed, exit 1 otherwise
#
# CHROMIUM_PATH points at another Chromium/Chrome binary and skips the install. playwright-core
# drives it over CDP: chromium.launch({ executablePath, args: ["--no-sandbox", "--headless=new"] }).
# Installing needs root (CI runners that can apt-get, or a developer's sudo); about 130 packages.
set -euo pipefail

log() { echo "chromium.sh: $*" >&2; }

find_chromium() {
  if [ -n "${CHROMIUM_PATH:-}" ]; then
    if [ -x "$CHROMIUM_PATH" ]; then echo "$CHROMIUM_PATH"; return 0; fi
    log "CHROMIUM_PATH=$CHROMIUM_PATH is not an executable"; return 1
  fi
  local c
  for c in /usr/bin/chromium /usr/bin/chromium-browser /usr/bin/google-chrome; do
    if [ -x "$c" ]; then echo "$c"; return 0; fi
  done
  return 1
}

install_chromium() {
  if [ "$(id -u)" != 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
      SUDO=sudo
    else
      log "chromium is not installed and installing it needs root: apt-get install chromium"
      exit 1
    fi
  else
    SUDO=
  fi
  log "installing chromium from Debian"
  local started=$SECONDS
  # One install at a time on this machine (parallel test runs): the second waits, then finds it installed.
  exec 8>/tmp/chromium-install.lock
  flock 8
  if find_chromium >/dev/null; then return; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
  log "installed in $((SECONDS - started)) s"
}

case "${1:-install}" in
  install)
    if ! find_chromium >/dev/null; then install_chromium; fi
    find_chromium || { log "chromium still not found after the install"; exit 1; }
    ;;
  path) find_chromium ;;
  *) echo "usage: $0 [install|path]" >&2; exit 2 ;;
esac
