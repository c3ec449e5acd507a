#!/usr/bin/env bash
# Installs headless Chromium and its WebDriver from Debian, for the projects page's browser test
# (service/browser_test.go drives /usr/bin/chromedriver, which starts /usr/bin/chromium). No browser is
# ever downloaded from anywhere else. Idempotent and fast when both are present (dpkg -s, no network).
# Debian/Ubuntu only; run as root (CI does) or through sudo.
set -euo pipefail

packages=(chromium chromium-driver)

missing=()
for p in "${packages[@]}"; do
	if ! dpkg -s "$p" 2>/dev/null | grep -q '^Status: install ok installed$'; then
		missing+=("$p")
	fi
done

if [ "${#missing[@]}" -eq 0 ]; then
	echo "install-browser-deps: already installed: ${packages[*]}"
	exit 0
fi

sudo=()
if [ "$(id -u)" -ne 0 ]; then
	sudo=(sudo)
fi

echo "install-browser-deps: installing: ${missing[*]}"
"${sudo[@]}" apt-get update
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
