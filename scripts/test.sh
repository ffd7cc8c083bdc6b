#!/usr/bin/env bash
# Install what is missing, then lint and run the whole test suite.
# Extra arguments go to pytest: scripts/test.sh tests/protocol -x
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh test
.venv/bin/ruff check .
exec .venv/bin/python -m pytest "$@"
