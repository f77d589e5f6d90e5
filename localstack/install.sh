#!/usr/bin/env bash
# Install LocalStack (community, no Docker) into localstack/.venv from the pinned lock.
# Idempotent: a venv whose lock stamp matches is left alone.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
venv="$here/.venv"
lock="$here/requirements.lock"
stamp="$venv/.lock.sha256"
want="$(sha256sum "$lock" | cut -d' ' -f1)"
if [[ -x "$venv/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
  exit 0
fi
py="${PYTHON:-}"
if [[ -z "$py" ]]; then
  for c in python3.11 python3; do
    if command -v "$c" >/dev/null 2>&1 && "$c" -c 'import sys; sys.exit(0 if sys.version_info[:2]==(3,11) else 1)'; then py="$c"; break; fi
  done
fi
if [[ -z "$py" ]]; then
  echo "localstack/install.sh: LocalStack 4.13.1 needs Python 3.11 (set PYTHON=...)" >&2
  exit 1
fi
echo "installing LocalStack into $venv (python: $py)" >&2
rm -rf "$venv"
"$py" -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check --upgrade pip >/dev/null
"$venv/bin/pip" install --quiet --disable-pip-version-check -r "$lock"
echo "$want" > "$stamp"
