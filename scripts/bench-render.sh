#!/usr/bin/env bash
# Render throughput of Deuteron against the Jinja2 reference, side by side in one run, on the
# golden cases (parse + render). Prints both figures and the ratio.
#   scripts/bench-render.sh [DEUTERON_ITERATIONS] [REFERENCE_ITERATIONS]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
shared="${DEUTERON_SHARED_DIR:-$root/../shared}"
venv="$root/.build/venv"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv" && "$venv/bin/pip" install --quiet -r scripts/test-requirements.txt
fi
n_rust="${1:-200}"
n_py="${2:-20}"
cargo bench -q -p deuteron-render --bench render --no-run >/dev/null 2>&1
rust=$(DEUTERON_SHARED_DIR="$shared" cargo bench -q -p deuteron-render --bench render -- "$n_rust" 2>/dev/null | tail -n 1)
# The reference prints one round; take the best of three, as the Rust bench takes its best round.
py=""
for _ in 1 2 3; do
  line=$("$venv/bin/python" "$shared/tools/proton_render_reference.py" bench "$shared/fixtures/proton-samples/golden" "$shared/fixtures/proton-samples/cloudformation" "$n_py" | tail -n 1)
  rate=$(echo "$line" | sed -E 's/.*: ([0-9.]+) renders\/s.*/\1/')
  best=$(echo "$py" | sed -E 's/.*: ([0-9.]+) renders\/s.*/\1/')
  if [ -z "$py" ] || python3 -c "import sys; sys.exit(0 if float('$rate') > float('$best') else 1)"; then py="$line"; fi
done
echo "deuteron:  $rust"
echo "reference: $py"
r=$(echo "$rust" | sed -E 's/.*: ([0-9.]+) renders\/s.*/\1/')
p=$(echo "$py" | sed -E 's/.*: ([0-9.]+) renders\/s.*/\1/')
python3 -c "print(f'ratio: {float($r)/float($p):.1f}x the Jinja2 reference')"
