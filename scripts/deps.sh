#!/usr/bin/env bash
# Install every Debian package that mechbench's build, demo, tests and benchmarks need.
# A no-op when all are present; runs `apt-get update` once before installing; uses sudo when not root.
set -euo pipefail

PACKAGES=(
  # toolchain
  build-essential g++ make pkg-config git
  # core harness
  libhdf5-dev hdf5-tools libbenchmark-dev gnuplot-nox libinih-dev
  # numerics
  libopenblas-dev liblapacke-dev libfftw3-dev libsleef-dev libgsl-dev
  # data pipelines
  libprotobuf-c-dev protobuf-c-compiler protobuf-compiler libfarmhash-dev zlib1g-dev libisal-dev
  # fuzzing (make fuzz: libFuzzer)
  clang
  # scale-out sweeps (mechbench-mpi: OpenMPI)
  openmpi-bin libopenmpi-dev
  # tests and oracles
  libcriterion-dev python3-torch python3-h5py python3-numpy python3-pytest python3-protobuf
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "deps.sh: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
