#!/usr/bin/env bash
# GPU checks (issue 10, goal 8) for a machine with CUDA, as one short script: the `gpu`
# tests, the bench's `gpu` section, a FULL-width P1 job (39 members on one dataset, timed)
# and the quick P1 sweep over the 9 tabular sets on `trainer.device=cuda`.
#
#   PSILON_BENCH_DATA=$HOME/data bash benchmarks/gpu_check.sh OUT_DIR [FULL_EPOCHS]
#
# Each step has its own time limit and log (OUT_DIR/<step>.log); a failed step does not stop
# the later ones. FULL_EPOCHS (default 300 of FULL P1's 1000) keeps the FULL-width job short:
# its time scales with the epochs, so the full protocol's estimate is the measured time x
# 1000 / FULL_EPOCHS per dataset (docs/benchmarks.md says which figures are measured, which scaled).
set -u
out=${1:-results/bench/gpu}
full_epochs=${2:-300}
py=${PYTHON:-python3}
mkdir -p "$out"
export PYTHONUNBUFFERED=1 OMP_NUM_THREADS=1 COLUMNS=120

step() {  # step NAME SECONDS CMD...: run with a limit, log to OUT/NAME.log, print the tail
    local name=$1 limit=$2
    shift 2
    local t0 rc
    t0=$(date +%s%N)
    timeout "$limit" "$@" >"$out/$name.log" 2>&1
    rc=$?
    printf '== %s: exit %s, %s s\n' "$name" "$rc" "$((($(date +%s%N) - t0) / 1000000))e-3" |
        tee -a "$out/steps.txt"
    tail -n "${TAIL:-15}" "$out/$name.log"
}

nvidia-smi -L
"$py" -c "import torch, sys; print(sys.version.split()[0], torch.__version__, torch.cuda.get_device_name(0))"

P1_GRID='regularizer.strength=[5e-5,1e-4,2.5e-4,5e-4,1e-3,2.5e-3,5e-3,1e-2,2.5e-2,5e-2,1e-1,2.5e-1,5e-1]'
P1_DATA=magic_telescope,credit_default,wine_quality,cpu_act,ailerons,elevators,house_16h,pol,miami_housing
work=$(mktemp -d)

step tests 120 "$py" -m pytest -q -p no:cacheprovider -m gpu tests/reliability/test_gpu.py
step bench 120 "$py" benchmarks/bench.py --only gpu --repeats 3 --out "$out/bench_gpu.json"
step p1_full_width 180 "$py" -m psilon_bench.cli.main run experiment=psilon_tabular \
    dataset=wine_quality model.width=500 seeds=3 "$P1_GRID" trainer.epochs="$full_epochs" \
    trainer.device=cuda hydra.run.dir="$work/p1_full"
step p1_quick_sweep 150 "$py" -m psilon_bench.cli.main run -m experiment=psilon_tabular \
    dataset="$P1_DATA" trainer.device=cuda hydra.sweep.dir="$work/p1_quick"
cat "$work"/p1_full/records.jsonl >"$out/p1_full_records.jsonl" 2>/dev/null
find "$work/p1_quick" -name records.jsonl -exec cat {} + >"$out/p1_quick_records.jsonl" 2>/dev/null
cat "$out/steps.txt"
