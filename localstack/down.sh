#!/usr/bin/env bash
# Stop the LocalStack started by up.sh.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
pidf="$here/.state/localstack.pid"
if [[ -f "$pidf" ]]; then
  pid="$(cat "$pidf")"
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$pidf"
  echo "LocalStack stopped" >&2
else
  echo "LocalStack not started by localstack/up.sh" >&2
fi
