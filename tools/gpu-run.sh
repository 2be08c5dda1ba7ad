#!/usr/bin/env bash
# Runs ModelForge ON the lent GPU machine, from the repo root, with what tools/package-gpu.sh packed
# (docs GPU.md steps 4-5): the .NET runtime from .gpu/dotnet-rt.tar.xz and PyTorch's own libtorch (CUDA).
# Usage: tools/gpu-run.sh <modelforge arguments>   (MODELFORGE_GPU_DLL=GpuBench.dll etc. runs another packed app)
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x /tmp/dn/dotnet ]; then # a warm machine keeps it between calls
  mkdir -p /tmp/dn
  tar xJf .gpu/dotnet-rt.tar.xz -C /tmp/dn
fi
if [ ! -f .gpu/app/modelforge.dll ] && [ -f .gpu/app.tar.xz ]; then
  tar xJf .gpu/app.tar.xz -C .gpu
fi
export DOTNET_ROOT=/tmp/dn PATH=/tmp/dn:$PATH

TL=$(python3 -c "import torch,os;print(os.path.dirname(torch.__file__)+'/lib')")
export LD_LIBRARY_PATH=$TL${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH} MODELFORGE_LIBTORCH=$TL
exec dotnet ".gpu/app/${MODELFORGE_GPU_DLL:-modelforge.dll}" "$@"
