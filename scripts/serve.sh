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
# A cluster node (--redis) or a PostgreSQL caption log needs the cluster extras: install them too.
# (Without them, `livecaptions` itself stops with one line naming `scripts/bootstrap.sh cluster`.)
cluster=no
for arg in "$@"; do
  case "$arg" in --redis | --redis=* | postgresql://* | --log-db=postgresql://*) cluster=yes ;; esac
done
bash scripts/bootstrap.sh "$purpose"
[ "$cluster" = yes ] && bash scripts/bootstrap.sh cluster
exec .venv/bin/livecaptions "$@"
