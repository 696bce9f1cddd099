# Sourced by scripts/up and scripts/test: make .venv with pagerbridge installed, once per change
# of pyproject.toml. Needs only python3 (3.11+) and pip.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
PYTHON="${PYTHON:-python3}"
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    echo "pagerbridge needs Python 3.11 or newer (found: $("$PYTHON" --version 2>&1))" >&2
    exit 1
fi
if [ ! -x .venv/bin/python ]; then
    echo "==> creating .venv" >&2
    "$PYTHON" -m venv .venv
fi
stamp=".venv/.pagerbridge-installed"
want="$(cat pyproject.toml | "$PYTHON" -c 'import hashlib,sys; print(hashlib.sha256(sys.stdin.buffer.read()).hexdigest())')-${PAGERBRIDGE_EXTRAS:-dev}"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    echo "==> installing pagerbridge and its dependencies into .venv (once)" >&2
    .venv/bin/python -m pip install --quiet --upgrade pip >&2
    .venv/bin/python -m pip install --quiet -e ".[${PAGERBRIDGE_EXTRAS:-dev}]" >&2
    echo "$want" > "$stamp"
fi
export PATH="$root/.venv/bin:$PATH"
