#!/usr/bin/env bash
# Debian packages the test suite drives for real: chromium for the browser tests (Playwright uses
# it through executable_path; no browser is downloaded) and Dovecot for the IMAP polling tests.
# Installs what is missing; needs root or passwordless sudo the first time.
set -euo pipefail

missing=()
[ -x "${DESKPILOT_CHROMIUM:-/usr/bin/chromium}" ] || missing+=(chromium)
[ -x /usr/sbin/dovecot ] || missing+=(dovecot-imapd)
[ ${#missing[@]} -eq 0 ] && exit 0

echo "installing Debian packages for the tests: ${missing[*]}" >&2
if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo -n"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null 2>&1 || {
  $SUDO apt-get update -qq >/dev/null 2>&1
  $SUDO apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null
}
# The package starts a system Dovecot on 143/993; the tests run their own on loopback ports.
if command -v systemctl >/dev/null 2>&1; then $SUDO systemctl stop dovecot >/dev/null 2>&1 || true; fi
$SUDO pkill -x dovecot >/dev/null 2>&1 || true
