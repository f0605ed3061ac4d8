#!/usr/bin/env bash
# Installs exactly what elmo needs to build, test and run, with apt-get, non-interactively.
# Idempotent: packages already present are skipped; never runs `apt-get autoremove`.
# Usage: scripts/install-deps.sh [--slurm]     (--slurm adds the Slurm + munge packages)
set -euo pipefail

PKGS=(
  build-essential cmake pkg-config          # compiler, CMake, pkg-config
  openmpi-bin libopenmpi-dev                # Open MPI (mpirun, mpicc, libmpi)
  libopenblas-dev libopenblas-pthread-dev   # OpenBLAS, pthread variant (deterministic choice)
  libhdf5-openmpi-dev hdf5-tools            # parallel HDF5 (MPI-IO) + h5dump/h5diff
  libyaml-dev                               # YAML job files
  libjansson-dev                            # JSON: options.json, tweet JSON Lines
  zlib1g-dev                                # gzip-compressed corpora
  libbz2-dev libzstd-dev                    # bzip2- and zstd-compressed corpora
  python3-h5py python3-numpy                # the store reader round-trip test (/usr/bin/python3)
  libxml2-utils                             # tests: SVG well-formedness (xmllint)
  clang libclang-rt-14-dev                  # CI: fuzz smoke (libFuzzer runtime; Debian 12's clang)
  valgrind                                  # CI: memcheck of the serial unit tests
)
if [ "${1:-}" = "--slurm" ]; then
  PKGS+=(slurm-wlm slurmctld slurmd slurm-client munge)
fi

missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PKGS[@]} packages present"
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
