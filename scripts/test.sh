#!/usr/bin/env bash
# Install what is missing, then lint, check types and run the whole test suite.
# Extra arguments go to pytest: scripts/test.sh tests/protocol -x
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh test
.venv/bin/ruff check .
.venv/bin/mypy  # --strict, over the packages pyproject.toml names
exec .venv/bin/python -m pytest "$@"
