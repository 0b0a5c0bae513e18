#!/usr/bin/env bash
# Sets up lwdock in ./.venv on a fresh Debian machine with Python 3.11. Safe to run again.
#  - libp2p's dependency fastecdsa compiles against libgmp: needs build-essential + libgmp-dev.
#  - torch is installed first, pinned to the CPU build this project targets, so pip never
#    resolves the project's loose torch requirement to a multi-GB CUDA build.
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
.venv/bin/python -m pip install -q -e '.[dev]'
echo "setup: done (.venv ready)" >&2
