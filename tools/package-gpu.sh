#!/usr/bin/env bash
# Packs ModelForge for the lent GPU machine (docs GPU.md steps 1-3): a framework-dependent publish in
# .gpu/app without the CPU libtorch (the GPU machine uses its PyTorch's libtorch) and with the ORIGINAL
# libLibTorchSharp.so (its libstdc++ is new enough), plus the .NET runtime in .gpu/dotnet-rt.tar.xz.
# Then: run(carry: [".gpu"], command: "tools/gpu-run.sh <modelforge args>").
# Usage: tools/package-gpu.sh [project.csproj ...]   (default: the CLI; several are published into the same .gpu/app)
set -euo pipefail
cd "$(git rev-parse --show-toplevel)"
PROJECTS=("${@:-src/Cli/ModelForge.Cli.csproj}")
LIMIT=$((64 * 1024 * 1024)) # what a device run may carry

rm -rf .gpu/app .gpu/app.tar.xz # a stale (patched) library would survive the publish copy
mkdir -p .gpu
for PROJECT in "${PROJECTS[@]}"; do
  dotnet publish "$PROJECT" -c Release -r linux-x64 --self-contained false \
    -p:ModelForgeSkipTorchSharpFix=true -o .gpu/app
done

# Everything from the libtorch-cpu-linux-x64 package (libtorch_cpu.so alone is ~460 MB).
for dir in .gpu/app .gpu/app/runtimes/linux-x64/native; do
  [ -d "$dir" ] || continue
  find "$dir" -maxdepth 1 -type f \( -name 'libtorch*.so*' -o -name 'libc10*.so*' -o -name 'libgomp*' \
    -o -name 'libshm.so*' -o -name 'libaoti_custom_ops.so*' -o -name 'libbackend_with_compiler.so*' \
    -o -name 'libjitbackend_test.so*' -o -name 'libnnapi_backend.so*' \) -delete
done
# The GPU machine's libstdc++ is new enough: it gets the ORIGINAL libLibTorchSharp.so, byte for byte the one in the
# NuGet cache. (Looking for the old symbol name is no test: the patch renames it in .dynstr only, .strtab keeps it.)
nuget=$(dotnet nuget locals global-packages --list | sed 's/^global-packages: *//')
tsver=$(sed -n 's/.*Include="TorchSharp" Version="\([^"]*\)".*/\1/p' src/Validators/ModelForge.Validators.csproj)
orig="${nuget%/}/torchsharp/$tsver/runtimes/linux-x64/native/libLibTorchSharp.so"
[ -f "$orig" ] || { echo "package-gpu: $orig not found (restore first)" >&2; exit 1; }
libs=$(find .gpu/app -name libLibTorchSharp.so)
[ -n "$libs" ] || { echo "package-gpu: no libLibTorchSharp.so in .gpu/app" >&2; exit 1; }
for lib in $libs; do
  cmp -s "$orig" "$lib" || { echo "package-gpu: $lib differs from $orig (patched copy?)" >&2; exit 1; }
done

if [ ! -s .gpu/dotnet-rt.tar.xz ]; then
  tar cJf .gpu/dotnet-rt.tar.xz -C "$(dirname "$(readlink -f "$(which dotnet)")")" \
    dotnet host shared/Microsoft.NETCore.App
fi

total=$(du -sb .gpu | cut -f1)
if [ "$total" -gt "$LIMIT" ]; then # tools/gpu-run.sh unpacks it again
  tar cJf .gpu/app.tar.xz -C .gpu app
  rm -rf .gpu/app
fi

exclude="$(git rev-parse --git-common-dir)/info/exclude"
mkdir -p "$(dirname "$exclude")"
grep -qxF '/.gpu/' "$exclude" 2>/dev/null || echo '/.gpu/' >> "$exclude"

du -sh .gpu/* 
total=$(du -sb .gpu | cut -f1)
echo "total: $((total / 1024 / 1024)) MiB ($total bytes; limit $LIMIT)"
[ "$total" -le "$LIMIT" ] || { echo "package-gpu: .gpu exceeds 64 MiB" >&2; exit 1; }
