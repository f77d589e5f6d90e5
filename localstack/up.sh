#!/usr/bin/env bash
# Start LocalStack without Docker on 127.0.0.1:4566 (if not already healthy) and wait for health.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
port="${LOCALSTACK_PORT:-4566}"
url="http://127.0.0.1:$port/_localstack/health"
if curl -fsS "$url" >/dev/null 2>&1; then
  echo "LocalStack already running on 127.0.0.1:$port" >&2
  exit 0
fi
"$here/install.sh"
mkdir -p "$here/.state"
log="$here/.state/localstack.log"
(
  cd "$here/.state"
  export GATEWAY_LISTEN="127.0.0.1:$port" DNS_ADDRESS=0 SKIP_SSL_CERT_DOWNLOAD=1 \
    DISABLE_EVENTS=1 LOCALSTACK_TELEMETRY_DISABLED=1 SERVICES="${LOCALSTACK_SERVICES:-ec2,sts,iam,s3,cloudformation,logs}" \
    EAGER_SERVICE_LOADING=0 PERSISTENCE=0 LS_LOG="${LS_LOG:-warn}"
  nohup "$here/.venv/bin/python" -m localstack.runtime.main >"$log" 2>&1 &
  echo $! > "$here/.state/localstack.pid"
)
for _ in $(seq 1 240); do
  if curl -fsS "$url" >/dev/null 2>&1; then
    echo "LocalStack healthy on 127.0.0.1:$port (pid $(cat "$here/.state/localstack.pid"))" >&2
    exit 0
  fi
  if ! kill -0 "$(cat "$here/.state/localstack.pid")" 2>/dev/null; then
    echo "LocalStack exited during start-up; last lines of $log:" >&2
    tail -40 "$log" >&2
    exit 1
  fi
  sleep 0.5
done
echo "LocalStack did not become healthy within 120 s; see $log" >&2
exit 1
