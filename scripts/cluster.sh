#!/usr/bin/env bash
# A local two-node cluster in one command: Redis, PostgreSQL and two caption nodes on loopback.
#   scripts/cluster.sh                 nodes on http://127.0.0.1:8080 and :8081
#   PORT=9000 REDIS_PORT=6400 PG_PORT=5450 scripts/cluster.sh   other ports
# Join one room from each node's page: the room lives on one node, the other relays signaling.
# Reviewers: http://127.0.0.1:8081/review/ (password: the token printed below) shows every node's
# sessions. Ctrl-C stops everything; the data lives in a temporary directory, removed on exit.
# Extra arguments go to both nodes (e.g. --engine kyutai --checkpoint out/tiny).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh cluster
REDIS_PORT="${REDIS_PORT:-6390}"
PG_PORT="${PG_PORT:-5440}"
PORT="${PORT:-8080}"
PORTS=("$PORT" "$((PORT + 1))")
TOKEN="${LIVECAPTIONS_REVIEWER_TOKEN:-review-$(head -c6 /dev/urandom | od -An -tx1 | tr -d ' \n')}"
work="$(mktemp -d /tmp/livecaptions-cluster.XXXXXX)"
chmod 755 "$work"
pids=()
as_pg=()
[ "$(id -u)" = 0 ] && as_pg=(runuser -u postgres --)
pgbin="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)"

cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no --dir "$work" \
  >"$work/redis.log" 2>&1 &
pids+=($!)

mkdir "$work/pg"
[ ${#as_pg[@]} -gt 0 ] && chown postgres:postgres "$work/pg"
"${as_pg[@]}" "$pgbin/initdb" -D "$work/pg/data" -A trust -U postgres >"$work/initdb.log"
"${as_pg[@]}" "$pgbin/postgres" -D "$work/pg/data" -p "$PG_PORT" -k "$work/pg" \
  -c listen_addresses=127.0.0.1 >"$work/postgres.log" 2>&1 &
pids+=($!)
until "$pgbin/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT"; do sleep 0.2; done
"$pgbin/createdb" -h 127.0.0.1 -p "$PG_PORT" -U postgres livecaptions

for i in 0 1; do
  port="${PORTS[$i]}"
  .venv/bin/livecaptions --port "$port" --redis "redis://127.0.0.1:$REDIS_PORT/0" \
    --node-id "node-$i" --log-db "postgresql://postgres@127.0.0.1:$PG_PORT/livecaptions" \
    --reviewer-token "$TOKEN" "$@" &
  pids+=($!)
done
echo "cluster: nodes on http://127.0.0.1:${PORTS[0]} and http://127.0.0.1:${PORTS[1]}," \
  "reviewer token $TOKEN; Ctrl-C stops it"
wait -n "${pids[@]}"
