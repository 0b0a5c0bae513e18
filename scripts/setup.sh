#!/usr/bin/env bash
# Sets up lwdock in ./.venv on a fresh Debian machine with Python 3.11. Safe to run again.
#  - libp2p's dependency fastecdsa compiles against libgmp: needs build-essential + libgmp-dev.
#  - Everything is installed: the core (tables), the 'image' and 'text' extras (torch, the
#    offline sentence model) and the dev tools, as the test suite needs all of them.
#  - torch is installed first, pinned to the CPU build this project targets, so pip never
#    resolves the extras' loose torch requirement to a multi-GB CUDA build.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! dpkg -s build-essential libgmp-dev >/dev/null 2>&1; then
  echo "setup: installing build-essential and libgmp-dev (needed to build fastecdsa)" >&2
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq build-essential libgmp-dev >/dev/null
fi

PY=${PYTHON:-python3.11}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q torch==2.13.0
.venv/bin/python -m pip install -q -e '.[all,dev]'

# The js-libp2p interop client (tests/test_interop_js.py): its pinned dependencies, from the lockfile.
# Skipped when node_modules already matches the lockfile; a failure only warns (the demo needs none of it).
if command -v npm >/dev/null 2>&1; then
  if [ ! -f interop/js/node_modules/.package-lock.json ] || [ interop/js/package-lock.json -nt interop/js/node_modules/.package-lock.json ]; then
    npm ci --prefix interop/js --no-audit --no-fund --loglevel=error \
      || echo "setup: WARNING: npm ci in interop/js failed; tests/test_interop_js.py will fail until it works" >&2
  fi
else
  echo "setup: WARNING: npm not found; skipping interop/js (tests/test_interop_js.py will skip)" >&2
fi
echo "setup: done (.venv ready)" >&2
