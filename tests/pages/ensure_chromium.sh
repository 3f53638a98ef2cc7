#!/bin/sh
# Browser tests drive Debian's Chromium (shared/notes/browser-tests.md): install it when missing.
# Playwright's own browser download does not work on these machines, so never `playwright install`.
set -e
if command -v chromium >/dev/null 2>&1; then
    exit 0
fi
if [ "$(id -u)" != "0" ]; then
    SUDO=sudo
else
    SUDO=
fi
$SUDO apt-get update
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends chromium
command -v chromium
