#!/usr/bin/env bash
# Creates what the demo and the tests need from nothing: system packages, the virtual environment and the
# Python packages. Idempotent and quick when nothing changed (a stamp keyed on pyproject.toml).
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${CAPTURERIG_VENV:-.venv}
PYTHON=${PYTHON:-python3.11}
# System packages the tests use; installed only when missing (we run as root on CI).
# gcc, gcc-avr, avr-libc, binutils-avr: the trigger box firmware (host tests, ATmega2560 cross-compile);
# chromium: the web panel's browser tests (Playwright drives it, no browser download);
# libimage-exiftool-perl: reads the packaged images' XMP; colmap: model_analyzer checks the packaged models.
APT_PACKAGES=(gcc gcc-avr avr-libc binutils-avr chromium libimage-exiftool-perl colmap)

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if ((${#missing[@]})); then
  echo "bootstrap: installing system packages: ${missing[*]}" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >&2
fi

command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3
if [[ ! -x "$VENV/bin/python" ]]; then
  echo "bootstrap: creating $VENV with $PYTHON" >&2
  "$PYTHON" -m venv "$VENV"
fi

stamp="$VENV/.capturerig-installed"
want=$(sha256sum pyproject.toml | cut -d' ' -f1)
if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$want" ]]; then
  echo "bootstrap: installing Python packages into $VENV" >&2
  log="$VENV/pip-install.log"
  if ! "$VENV/bin/python" -m pip install -q -e ".[dev]" >"$log" 2>&1; then
    cat "$log" >&2
    echo "bootstrap: pip install failed (full log: $log)" >&2
    exit 1
  fi
  "$VENV/bin/python" -c "import capturerig, capturerig_sim, cv2, gphoto2, pycolmap" >&2
  echo "$want" >"$stamp"
fi
