#!/usr/bin/env bash
# Install what is missing, then run the caption server (embedded CPU engine) on http://127.0.0.1:8080.
# Extra arguments go to the server: scripts/serve.sh --port 9000 --participant-token s3cret
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh server
exec .venv/bin/livecaptions "$@"
