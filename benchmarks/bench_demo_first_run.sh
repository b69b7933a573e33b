#!/usr/bin/env bash
# A newcomer's first run: clone this repository into a fresh folder, run `make demo` there with
# standard input closed (as from a script or over ssh), and time it until the workbench answers
# HTTP 200; then stop it. Prints the seconds, the load average and the demo model's test metrics.
#
#     benchmarks/bench_demo_first_run.sh [WORK_DIR]      # default WORK_DIR: /tmp/shoekit-first-run
#
# WORK_DIR is emptied first; the clone (with its .venv and demo/) stays there for inspection.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
work="${1:-/tmp/shoekit-first-run}"
port=8501
if curl -sf -o /dev/null "http://localhost:$port/"; then
  echo "port $port is already serving something: stop it first" >&2; exit 2
fi
rm -rf "$work" && mkdir -p "$work"
start=$(date +%s)
git clone -q "$repo" "$work/clone"
cd "$work/clone"
make demo </dev/null >"$work/demo.log" 2>&1 &
demo=$!
until curl -sf -o /dev/null "http://localhost:$port/" && grep -q "http://localhost:$port" "$work/demo.log"; do
  if ! kill -0 "$demo" 2>/dev/null; then echo "make demo exited early; see $work/demo.log" >&2; exit 1; fi
  sleep 2
done
echo "served after $(( $(date +%s) - start )) s from git clone (load average: $(cut -d' ' -f1-3 /proc/loadavg))"
pkill -f "streamlit run.*$work/clone" || true
kill "$demo" 2>/dev/null || true
.venv/bin/python - <<'PY'
import json
metrics = json.load(open("demo/runs/dual_pool/metrics.json"))
train = metrics["train"]
print(f"trained {train['epochs']} epochs in {train['train_seconds']:.0f} s at {train['images_per_s']:.1f} images/s")
for head, values in metrics["eval"].items():
    print(f"  {head:7s} Rank-1 {100 * values['rank1']:.1f}%  mAP {100 * values['mAP']:.1f}%")
PY
