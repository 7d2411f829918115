#!/usr/bin/env bash
# The GPU checks nothing in CI can run: on a machine with an NVIDIA GPU, at most ~8 minutes, one JSON line at the end.
#   bash scripts/gpu_check.sh            (after bash scripts/install.sh; needs torch with CUDA)
# 1. The DARTS step benchmark at the paper's CIFAR-10 search size (width 16, 8 cells, batch 64; random CIFAR-shaped
#    tensors) on cuda: NNI's DARTS against ours, first and second order, with the peak GPU memory of each.
# 2. A 2-trial digits search through the real nnictl with trialGpuNumber 1, whose trials must report
#    latency_ms_cuda (they trained on the GPU; latency_ms itself is the CPU figure, the one max_latency_ms judges). NNI 3.0's scheduler starts a trial only when it asks for fewer GPUs than the machine has
#    (scheduler.js), so on a 1-GPU machine the config shares: maxTrialNumberPerGpu 2 (half a GPU each).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
OUT=$(mktemp -d /tmp/nni-nas-gpu-check.XXXXXX)
$PY -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 'no CUDA device visible to torch')"
GPUS=$($PY -c "import torch; print(torch.cuda.device_count())")

# 1. step benchmark (each variant in its own process; 2 timed epochs of 20 steps, the first dropped as warm-up)
timeout 300 $PY benchmarks/darts_step.py --input cifar --width 16 --cells 8 --batch-size 64 --batches 20 \
  --epochs 3 --repeats 1 --threads 4 --device cuda | tee "$OUT/darts_step.txt"
tail -n 1 "$OUT/darts_step.txt" > "$OUT/darts_step.json"

# 2. nnictl search on the GPU
SHARE=1; [ "$GPUS" -le 1 ] && SHARE=2
cat > "$OUT/gpu_search.yml" <<YAML
experimentName: gpu-check
trialCommand: python -m nni_nas.trial --config gpu_search.yml
trialCodeDirectory: .
trialConcurrency: 2
searchSpace: {}
maxTrialNumber: 2
maxExperimentDuration: 5m
tuner:
  className: strategies.random_search.RandomTuner
  codeDirectory: $PWD
  classArgs:
    space: digits_cnn
    space_args: {widths: [16, 32], max_depth: 2}
    data: digits
    train: {epochs: 2, batch_size: 64, lr: 0.05, seed: 0, accelerator: auto, latency_runs: 10}
    seed: 0
trainingService:
  platform: local
  trialGpuNumber: 1
  maxTrialNumberPerGpu: $SHARE
  useActiveGpu: true
YAML
.venv/bin/nni-nas check "$OUT/gpu_search.yml"
HOME="$OUT/home" timeout 300 $PY - "$OUT" <<'PYEOF'
import json, sys
from pathlib import Path
from nni_nas.manager.nnictl import create_experiment, free_port, nni_env, stop_experiment, trial_jobs, wait_until_finished
out = Path(sys.argv[1]); env = nni_env({"HOME": str(out / "home")}); port = free_port()
eid = create_experiment(out / "gpu_search.yml", port, env=env)
try:
    wait_until_finished(port, timeout=240)
    jobs = trial_jobs(port)
finally:
    stop_experiment(eid, env=env)
finals = [j["final"][0] if j["final"] else None for j in jobs]
result = {"experiment": eid, "statuses": [j["status"] for j in jobs],
          "latency_ms_cuda": [f and f.get("latency_ms_cuda") for f in finals],
          "latency_ms": [f and f.get("latency_ms") for f in finals], "val_acc": [f and f.get("val_acc") for f in finals]}
(out / "search.json").write_text(json.dumps(result))
print(json.dumps(result))
PYEOF

$PY - "$OUT" "$GPUS" <<'PYEOF'
import json, sys
from pathlib import Path
out = Path(sys.argv[1])
import torch
search = json.loads((out / "search.json").read_text())
line = {"gpu": torch.cuda.get_device_name(0), "gpus": int(sys.argv[2]),
        "darts_step": json.loads((out / "darts_step.json").read_text()), "nnictl_search": search,
        "ok": all(isinstance(x, float) and x > 0 for x in search["latency_ms_cuda"])
              and len(search["latency_ms_cuda"]) == 2 and set(search["statuses"]) == {"SUCCEEDED"}}
print(json.dumps(line))
PYEOF
