# Shared by scripts/quickstart and scripts/test: make .venv and install the project into it.
# Usage: source scripts/_env.sh; ensure_venv "extra1,extra2"
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${MODELYARD_VENV:-$ROOT/.venv}"

ensure_venv() {
  local extras="$1"
  if [ ! -x "$VENV/bin/python" ]; then
    echo "==> creating virtualenv $VENV" >&2
    python3 -m venv "$VENV"
  fi
  if [ ! -x "$VENV/bin/uv" ] && ! command -v uv >/dev/null; then
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check uv >&2 || true
  fi
  local uv=""
  if [ -x "$VENV/bin/uv" ]; then uv="$VENV/bin/uv"; elif command -v uv >/dev/null; then uv="$(command -v uv)"; fi
  _venv_install() {
    if [ -n "$uv" ]; then
      "$uv" pip install -q --python "$VENV/bin/python" "$@" >&2
    else
      "$VENV/bin/python" -m pip install -q --disable-pip-version-check "$@" >&2
    fi
  }
  echo "==> installing modelyard[$extras] into $VENV" >&2
  if [ -n "$uv" ]; then
    _venv_install --compile-bytecode -e "$ROOT[$extras]"
  else
    _venv_install -e "$ROOT[$extras]"
  fi
  if [[ ",$extras," == *",dev,"* || ",$extras," == *",sklearn,"* ]]; then
    # ISLP's Bikeshare.csv (the tests' data and the quickstart's monitoring story) without
    # ISLP's heavy dependencies (a CUDA build of torch): both read the file and never
    # import ISLP.
    _venv_install --no-deps "ISLP>=0.4"
  fi
}
