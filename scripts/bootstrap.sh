#!/usr/bin/env bash
# Install whatever is missing, idempotently: system packages (apt), a virtualenv, the project.
#   scripts/bootstrap.sh server   what the server needs
#   scripts/bootstrap.sh kyutai   plus the Kyutai engine (torch, moshi)
#   scripts/bootstrap.sh cluster  plus cluster mode: redis-server, PostgreSQL, their clients
#   scripts/bootstrap.sh test     plus what the test suite needs (the Kyutai engine, espeak-ng, sox,
#                                 Chromium, Firefox ESR and its driver (puppeteer-core, from npm),
#                                 redis-server, PostgreSQL)
set -euo pipefail
cd "$(dirname "$0")/.."
purpose="${1:-server}"
VENV="${VENV:-.venv}"
PYTHON="${PYTHON:-python3.11}"
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    echo "bootstrap: need root to run: $*" >&2; exit 1; fi
}

apt_install() {
  local missing=()
  for pkg in "$@"; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "bootstrap: installing ${missing[*]}"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
}

if [ "$purpose" = test ]; then
  apt_install espeak-ng sox chromium firefox-esr redis-server postgresql
  command -v npm >/dev/null 2>&1 || apt_install nodejs npm
  # The real-browser tests drive Firefox over WebDriver BiDi with puppeteer-core (no browser download).
  driver=tests/integration/firefox
  lock="$(sha256sum "$driver/package-lock.json" | cut -d' ' -f1)"
  if [ "$(cat "$driver/node_modules/.installed" 2>/dev/null)" != "$lock" ]; then
    echo "bootstrap: installing the Firefox driver into $driver/node_modules"
    (cd "$driver" && npm ci --no-audit --no-fund --loglevel=error)
    echo "$lock" > "$driver/node_modules/.installed"
  fi
fi
if [ "$purpose" = cluster ]; then
  apt_install redis-server postgresql
fi

if [ ! -x "$VENV/bin/python" ]; then
  if ! "$PYTHON" -m venv "$VENV" 2>/dev/null; then
    apt_install python3-venv
    rm -rf "$VENV"
    "$PYTHON" -m venv "$VENV"
  fi
fi

MOSHI="moshi==0.2.13"  # pins torch<2.10: installed without its dependencies (pyproject names them)
extras=""
[ "$purpose" = test ] && extras="[test]"
[ "$purpose" = kyutai ] && extras="[kyutai]"
[ "$purpose" = cluster ] && extras="[cluster]"
stamp="$VENV/.installed-$purpose"
digest="$(cat pyproject.toml scripts/bootstrap.sh | sha256sum | cut -d' ' -f1)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$digest" ]; then
  echo "bootstrap: installing the project$extras into $VENV"
  "$VENV/bin/python" -m pip install -q --upgrade pip
  "$VENV/bin/python" -m pip install -q -e ".$extras"
  if [ "$extras" = "[test]" ] || [ "$extras" = "[kyutai]" ]; then
    "$VENV/bin/python" -m pip install -q --no-deps "$MOSHI"
  fi
  echo "$digest" > "$stamp"
fi
