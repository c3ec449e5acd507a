#!/usr/bin/env bash
# Installs the shells the init-script tests run the script under: dash, bash and busybox (static).
# Idempotent and fast when everything is present (checked with dpkg -s, no network).
# Debian/Ubuntu only; run as root (CI does) or through sudo.
set -euo pipefail

packages=(dash bash busybox-static)

missing=()
for p in "${packages[@]}"; do
	if ! dpkg -s "$p" 2>/dev/null | grep -q '^Status: install ok installed$'; then
		missing+=("$p")
	fi
done

if [ "${#missing[@]}" -eq 0 ]; then
	echo "install-test-deps: already installed: ${packages[*]}"
	exit 0
fi

sudo=()
if [ "$(id -u)" -ne 0 ]; then
	sudo=(sudo)
fi

echo "install-test-deps: installing: ${missing[*]}"
"${sudo[@]}" apt-get update
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
