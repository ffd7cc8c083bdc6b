#!/usr/bin/env bash
# Install what is missing, then run the caption server (embedded CPU engine unless --engine kyutai)
# on http://127.0.0.1:8080.
# Extra arguments go to the server: scripts/serve.sh --port 9000 --participant-token s3cret
set -euo pipefail
cd "$(dirname "$0")/.."
purpose=server
for arg in "$@"; do
  case "$arg" in kyutai | --engine=kyutai) purpose=kyutai ;; esac
done
bash scripts/bootstrap.sh "$purpose"
exec .venv/bin/livecaptions "$@"
