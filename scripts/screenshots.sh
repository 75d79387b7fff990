#!/usr/bin/env bash
# Regenerates the web UI screenshots the README shows (docs/ui/*.png): the browser test
# walks through the UI and, with BERTH_UI_SCREENSHOTS set, keeps a screenshot of each
# main page. Needs chromium and chromium-driver (scripts/test.sh installs them).
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p docs/ui
BERTH_UI_SCREENSHOTS="$PWD/docs/ui" BERTH_REQUIRE_CLIENTS=1 \
    cargo test -q -p berth --test e2e ui::the_web_ui_in_a_browser
ls -l docs/ui
