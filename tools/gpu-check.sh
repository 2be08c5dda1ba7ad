#!/usr/bin/env bash
# One-call GPU check (issue 12): everything GPU-side in ONE device call of at most 8 minutes, from a fresh machine.
#   1. here:  tools/gpu-check.sh --package      (tools/package-gpu.sh: CLI + SynthDeepEncoder + GpuBench into .gpu/)
#   2. there: run(carry: [".gpu"], command: "tools/gpu-check.sh", timeout_s: 540)
#   3. here, without a GPU: tools/gpu-check.sh --cpu-smoke   (same steps on the tiny fixture on the CPU: checks the script)
# On the GPU machine it: generates the released-size synthetic checkpoint (md5 checked); exports fp32 ONNX at 640 and 1024;
# runs `validate --device cuda` in fp32, bf16 and fp16 at 640 against the goldens of the original PyTorch model and the
# exported path (ONNX Runtime CPU), and at 1024 against the exported path on seeded random inputs; benches the reference
# path on CUDA at 1024, batch 1 and 8, fp32/bf16/fp16 (median of 20 after 5 warm-up runs, device memory in use, one
# process per configuration); writes
# $OUT/gpu-check.json, $OUT/gpu-check.md and $OUT/gpu-check.log. Each step is time-boxed; a step that fails or runs out of
# the overall budget is recorded as such and the rest still run.
set -uo pipefail
cd "$(dirname "$0")/.."
MODE=gpu
CFG=Debug
case "${1:-}" in
  --package) exec tools/package-gpu.sh src/Cli/ModelForge.Cli.csproj tools/SynthDeepEncoder/SynthDeepEncoder.csproj tools/GpuBench/GpuBench.csproj ;;
  --cpu-smoke) MODE=cpu ;;
  "") ;;
  *) echo "usage: tools/gpu-check.sh [--package | --cpu-smoke]" >&2; exit 2 ;;
esac

OUT=${OUT:-$(mktemp -d /tmp/gpu-check-out.XXXXXX)}
mkdir -p "$OUT"
WORK=$(mktemp -d /tmp/gpu-check-work.XXXXXX)
LOG="$OUT/gpu-check.log"
: > "$LOG"
BUDGET=${GPU_CHECK_BUDGET_S:-450} # leaves ~30 s of the 8 minutes for the summary and slack
STEPS="$WORK/steps.jsonl"
: > "$STEPS"
SECONDS=0

if [ "$MODE" = gpu ]; then
  [ -d .gpu ] || { echo "gpu-check: no .gpu folder (run tools/gpu-check.sh --package here first and carry .gpu)" >&2; exit 2; }
  mf() { tools/gpu-run.sh "$@"; }
  synth() { MODELFORGE_GPU_DLL=SynthDeepEncoder.dll tools/gpu-run.sh "$@"; }
  bench() { MODELFORGE_GPU_DLL=GpuBench.dll tools/gpu-run.sh "$@"; }
  DEVICE=cuda
else
  for d in src/Cli/bin/$CFG/net10.0/modelforge.dll tools/GpuBench/bin/$CFG/net10.0/GpuBench.dll; do
    [ -f "$d" ] || { echo "gpu-check --cpu-smoke: $d missing (dotnet build ModelForge.sln first)" >&2; exit 2; }
  done
  mf() { dotnet "src/Cli/bin/$CFG/net10.0/modelforge.dll" "$@"; }
  bench() { dotnet "tools/GpuBench/bin/$CFG/net10.0/GpuBench.dll" "$@"; }
  DEVICE=cpu
fi
export CFG
export -f mf bench
[ "$MODE" = cpu ] || export -f synth

# step NAME TIMEOUT_S COMMAND...: runs one step with its output in the log, records status and seconds.
step() {
  local name=$1 limit=$2; shift 2
  local left=$((BUDGET - SECONDS))
  if [ "$left" -le 10 ]; then
    echo "{\"step\": \"$name\", \"status\": \"skipped: overall budget of ${BUDGET} s used\", \"seconds\": 0}" >> "$STEPS"
    return 1
  fi
  [ "$limit" -le "$left" ] || limit=$left
  local start=$SECONDS rc
  echo "=== $name (limit ${limit} s)" >> "$LOG"
  # timeout runs programs, not shell functions: the exported functions run in a child bash.
  timeout --kill-after=10 "$limit" bash -c '"$@"' _ "$@" >> "$LOG" 2>&1
  rc=$?
  local status=ok
  [ "$rc" -eq 0 ] || status="exit $rc"
  [ "$rc" -ne 124 ] || status="timed out after ${limit} s"
  [ "$rc" -ne 1 ] || status="parity failure (exit 1)"
  echo "{\"step\": \"$name\", \"status\": \"$status\", \"seconds\": $((SECONDS - start))}" >> "$STEPS"
  echo "gpu-check: $name: $status ($((SECONDS - start)) s)"
  return "$rc"
}

# The machine.
if command -v nvidia-smi >/dev/null; then
  nvidia-smi --query-gpu=name,driver_version,compute_cap,memory.total --format=csv,noheader > "$WORK/gpu.txt" 2>>"$LOG" || true
fi

FIX="$WORK/fixture-640"
mkdir -p "$FIX"
if [ "$MODE" = gpu ]; then
  step checkpoint 120 synth "$WORK/ckpt" --single
  CKPT="$WORK/ckpt/model.safetensors"
  if [ -f "$CKPT" ]; then
    md5=$(md5sum "$CKPT" | cut -d' ' -f1)
    echo "{\"step\": \"checkpoint md5\", \"status\": \"$([ "$md5" = 0f26f0c489bc9c412dc00acb49197b82 ] && echo ok || echo "md5 $md5 differs")\", \"seconds\": 0}" >> "$STEPS"
  fi
  cp fixtures/golden/deepencoder-full-640/fixture.json fixtures/golden/deepencoder-full-640/golden.safetensors "$FIX/"
  ln -sf "$CKPT" "$FIX/model.safetensors"
  SIZES=(640 1024); BENCH_SIZE=1024; BATCHES=1,8; ITERS=20; WARMUP=5; CFGARG=()
else
  CKPT=fixtures/golden/deepencoder-tiny/model.safetensors
  cp fixtures/golden/deepencoder-tiny/* "$FIX/"
  SIZES=(256 320); BENCH_SIZE=256; BATCHES=1,2; ITERS=2; WARMUP=1; CFGARG=(--config fixtures/golden/deepencoder-tiny/fixture.json)
fi

for size in "${SIZES[@]}"; do
  step "export ${size}" 120 mf export --arch deepencoder --checkpoint "$CKPT" "${CFGARG[@]}" --image-size "$size" --out "$WORK/onnx$size" --force
done
for p in fp32 bf16 fp16; do
  # The golden size: reference (device) and exported path (ONNX Runtime CPU) against the original's outputs and each other.
  step "validate ${SIZES[0]} $p" 90 mf validate --fixture "$FIX" --onnx "$WORK/onnx${SIZES[0]}/model.onnx" --device "$DEVICE" \
    --precision "$p" --report "$WORK/validate-${SIZES[0]}-$p.json"
done
for p in fp32 bf16 fp16; do
  step "validate ${SIZES[1]} $p" 90 mf validate --arch deepencoder --checkpoint "$CKPT" "${CFGARG[@]}" --image-size "${SIZES[1]}" \
    --inputs random --seed 0 --onnx "$WORK/onnx${SIZES[1]}/model.onnx" --device "$DEVICE" --precision "$p" \
    --report "$WORK/validate-${SIZES[1]}-$p.json"
done

# Bench, with nvidia-smi sampling the device's memory.used as a cross-check of GpuBench's own figure.
if command -v nvidia-smi >/dev/null; then
  nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -lms 200 > "$WORK/smi-memory.txt" 2>/dev/null &
  SMI=$!
fi
# One process per (precision, batch): libtorch's caching allocator keeps what a run reserved, so a fresh process per
# configuration is what makes its device-memory figure its own.
for p in fp32 bf16 fp16; do
  for b in ${BATCHES//,/ }; do
    step "bench $p batch $b" 90 bench --checkpoint "$CKPT" "${CFGARG[@]}" --device "$DEVICE" --sizes "$BENCH_SIZE" --batches "$b" \
      --precisions "$p" --warmup "$WARMUP" --iters "$ITERS" --out "$WORK/bench-$p-$b.json"
  done
done
[ -z "${SMI:-}" ] || kill "$SMI" 2>/dev/null

python3 - "$WORK" "$OUT" "$MODE" <<'PY'
import json, os, sys, glob
work, out, mode = sys.argv[1:4]
def load(p):
    try:
        with open(p) as f: return json.load(f)
    except Exception as e: return None
steps = [json.loads(l) for l in open(os.path.join(work, "steps.jsonl")) if l.strip()]
gpu = open(os.path.join(work, "gpu.txt")).read().strip() if os.path.exists(os.path.join(work, "gpu.txt")) else "none (no nvidia-smi)"
validations = []
for p in sorted(glob.glob(os.path.join(work, "validate-*.json"))):
    r = load(p)
    name = os.path.basename(p)[len("validate-"):-5]
    if r is None: validations.append({"run": name, "error": "no report"}); continue
    rows = []
    for c in r.get("cases", []):
        for o in c.get("outputs", []):
            if o.get("output", "").startswith("trace."): continue
            rows.append({"case": c.get("name"), "output": o.get("output"), "comparison": o.get("comparison"),
                         "max_abs": o.get("max_abs"), "cosine": o.get("cosine"), "passed": o.get("passed")})
    validations.append({"run": name, "passed": r.get("passed"), "tolerances": r.get("tolerances"), "device": r.get("device"),
                        "first_divergence": [c.get("first_divergence") for c in r.get("cases", [])], "comparisons": rows})
bench = {"results": [r for p in sorted(glob.glob(os.path.join(work, "bench-*.json"))) for r in (load(p) or {}).get("results", [])]}
smi = os.path.join(work, "smi-memory.txt")
smi_peak = max((int(x) for x in open(smi).read().split() if x.isdigit()), default=None) if os.path.exists(smi) else None
reference = {"gpu": "H100 80 GB (issue 12; original PyTorch DeepEncoder, eager, 1024 px, TF32 off)",
             "ms": {"f32": {"1": 43.1, "8": 275}, "bf16": {"1": 16.7, "8": 63.8}, "f16": {"1": 23.8, "8": 62.9}}}
result = {"mode": mode, "gpu": gpu, "steps": steps, "validations": validations, "bench": bench,
          "nvidia_smi_peak_memory_used_mib": smi_peak, "pytorch_reference_figures": reference}
json.dump(result, open(os.path.join(out, "gpu-check.json"), "w"), indent=1)
md = [f"# ModelForge GPU check ({mode})", "", f"GPU: {gpu}", "", "| step | status | s |", "|---|---|---|"]
md += [f"| {s['step']} | {s['status']} | {s['seconds']} |" for s in steps]
def g(x): return "-" if x is None else f"{x:.3g}"
def cos(x): return "-" if x is None else f"{x:.7f}"
md += ["", "## Parity (validate --device; global_view_tokens; all outputs in gpu-check.json)", "",
       "| run | case | comparison | max abs | cosine | pass |", "|---|---|---|---|---|---|"]
for v in validations:
    for c in v.get("comparisons", []):
        if c["output"] == "global_view_tokens":
            md.append(f"| {v['run']} | {c['case']} | {c['comparison']} | {g(c['max_abs'])} | {cos(c['cosine'])} | {c['passed']} |")
    divergences = [d for d in v.get("first_divergence", []) if d]
    if divergences: md.append(f"| {v['run']} | | first divergence: {divergences} | | | |")
md += ["", "## Reference path timing (GpuBench)", "", "| size | batch | precision | median ms | min ms | device MiB | PyTorch H100 ms |", "|---|---|---|---|---|---|---|"]
for r in (bench or {}).get("results", []):
    ref = reference["ms"].get(r["precision"], {}).get(str(r["batch"]), "-") if r["image_size"] == 1024 else "-"
    md.append(f"| {r['image_size']} | {r['batch']} | {r['precision']} | {r['median_ms']} | {r['min_ms']} | {r['device_memory_in_use_mib']} | {ref} |")
md += ["", f"nvidia-smi peak memory.used during bench: {smi_peak} MiB", "",
       "PyTorch figures are from an H100 (issue 12), not measured in this call: a ratio to them is across GPUs."]
open(os.path.join(out, "gpu-check.md"), "w").write("\n".join(md) + "\n")
PY
# The log can be long: keep its last 8 MiB (the device returns files of at most 16 MiB).
tail -c 8388608 "$LOG" > "$LOG.tmp" && mv "$LOG.tmp" "$LOG"
rm -rf "$WORK"
echo "gpu-check: done in ${SECONDS} s; $OUT/gpu-check.json, $OUT/gpu-check.md"
