#!/usr/bin/env bash
# Set up everything pipeline needs on a Debian machine with Python 3.11+:
#   - Apertium and its pairs (fr-es, eng-spa, fra-cat, eng-cat, cat-ita, es-pt, spa-cat), and chromium for the review page's browser test
#     (Debian packages; needs root or sudo)
#   - a virtual environment in .venv with torch==2.13.0 (CPU build) and the project
# Safe to run again: it only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

need_apt=()
command -v apertium >/dev/null 2>&1 || need_apt+=(apertium)
# chromium: the review page's browser test (driven by Playwright, headless)
# Apertium pairs: fr->en (fr-es + spa-eng) and the routes of pipeline/translate/routes.py (en, es, ca, it, pt)
# and apertium-spa-cat: the cat-spa stage of the combined fr->en routes (translate.combine; tests/test_translate_combine.py)
for pkg in apertium-fr-es apertium-eng-spa apertium-fra-cat apertium-eng-cat apertium-eo-fr apertium-eo-en apertium-cat-ita apertium-es-pt apertium-spa-cat chromium; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need_apt+=("$pkg")
done
if ! "$PYTHON" -c 'import ensurepip, venv' >/dev/null 2>&1; then need_apt+=(python3-venv); fi
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${need_apt[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  echo "setup: Python 3.11 or newer is needed; $("$PYTHON" --version 2>&1) found (set PYTHON=/path/to/python3.11)" >&2
  exit 2
fi
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip
# torch first and pinned: an unpinned torch pulls gigabytes of CUDA packages.
.venv/bin/python -m pip install -q --disable-pip-version-check torch==2.13.0
# ray: the optional Ray executor (run.executor: ray), installed here so its test runs
# (about 240 MB in site-packages, under a minute from a PyPI mirror).
.venv/bin/python -m pip install -q --disable-pip-version-check -e ".[test,fast,embed,ray]"
echo "setup: ready: $(.venv/bin/python --version), apertium $(dpkg-query -W -f='${Version}' apertium 2>/dev/null || echo unknown)"
