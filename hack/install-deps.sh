#!/usr/bin/env bash
# Installs the Debian packages named as arguments when they are missing; the Makefile's `deps` says
# which (the shells the init script is tested under, headless Chromium and its WebDriver for the
# projects page). Idempotent and fast when everything is present: dpkg -s first, no network; otherwise
# one apt-get update, then apt-get install. No package is ever fetched from anywhere but apt.
# Debian/Ubuntu only; run as root (CI does) or through sudo.
set -euo pipefail

if [ "$#" -eq 0 ]; then
	echo "usage: $0 PACKAGE..." >&2
	exit 2
fi

missing=()
for p in "$@"; do
	if ! dpkg -s "$p" 2>/dev/null | grep -q '^Status: install ok installed$'; then
		missing+=("$p")
	fi
done

if [ "${#missing[@]}" -eq 0 ]; then
	echo "install-deps: already installed: $*"
	exit 0
fi

sudo=()
if [ "$(id -u)" -ne 0 ]; then
	sudo=(sudo)
fi

echo "install-deps: installing: ${missing[*]}"
"${sudo[@]}" apt-get update
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
