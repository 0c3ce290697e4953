# Sourced by the scripts beside it: a project virtualenv with cohortstream installed.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PYTHON=${PYTHON:-python3}
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    echo "cohortstream needs Python >= 3.11 (found $("$PYTHON" --version 2>&1)); set PYTHON=..." >&2
    exit 1
fi
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv

pip_install() {
    local log
    log=$(mktemp)
    if ! .venv/bin/python -m pip install --quiet "$@" >"$log" 2>&1; then
        cat "$log" >&2
        rm -f "$log"
        exit 1
    fi
    # This machine's pip config names local mirrors that may be absent; that is noise.
    grep -v "^WARNING: Location" "$log" || true
    rm -f "$log"
}

pip_install --upgrade pip
pip_install -e ".[$1]"
