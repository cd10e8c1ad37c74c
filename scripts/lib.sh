# Shared by scripts/*: dependency setup and the build. Source it; do not run it.
# shellcheck shell=bash

KVSCALE_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# Debian 12 packages kvscale needs. GoogleTest and Google Benchmark ship with the base image but
# are listed so that a bare machine gets them too. clang-22/lld-22/llvm-22 (Debian 12 updates)
# compile the kernels device-code-only for gfx942/gfx950 in the debian-rocm preset and provide the
# LLVM 22 tools scripts/isa-report uses for those chips. dpkg-dev (dpkg-shlibdeps) and file build
# the .deb packages (docs/building.md, "Packages"). python3-numpy and python3-pytest run
# tests/python (the kvscale Python package) with /usr/bin/python3.
KVSCALE_APT_PACKAGES=(cmake ninja-build g++ git libgtest-dev libbenchmark-dev nlohmann-json3-dev
                      hipcc libamdhip64-dev rocm-cmake python3 python3-numpy python3-pytest
                      clang-22 lld-22 llvm-22 dpkg-dev file clang-format-14)

log() { printf '\033[1m[kvscale]\033[0m %s\n' "$*" >&2; }

# Installs, with apt, only the packages that are missing. Fast when nothing is missing.
ensure_deps() {
  ensure_packages "${KVSCALE_APT_PACKAGES[@]}" "$@"
}

# ensure_packages <package...>: installs, with apt, those of the named packages that are missing.
ensure_packages() {
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" -ne 0 ]; then
    log "missing packages: ${missing[*]} (run as root, or: sudo apt-get install -y ${missing[*]})"
    return 1
  fi
  log "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}" >/dev/null
}

# The preset to build: $KVSCALE_PRESET, else debian-rocm where Debian's HIP toolchain exists, else cpu.
default_preset() {
  if [ -n "${KVSCALE_PRESET:-}" ]; then echo "$KVSCALE_PRESET"
  elif [ -e /usr/lib/x86_64-linux-gnu/cmake/hip-lang/hip-lang-config.cmake ] && command -v clang++-15 >/dev/null; then echo debian-rocm
  else echo cpu
  fi
}

# configure_and_build <preset> [targets...]: incremental; reconfigures only when needed.
configure_and_build() {
  local preset="$1"; shift
  cd "$KVSCALE_ROOT"
  # Also after CMakePresets.json changed: a preset's cache variables reach an existing tree only
  # through a new `cmake --preset`.
  if [ ! -f "build/$preset/build.ninja" ] || [ CMakePresets.json -nt "build/$preset/CMakeCache.txt" ]; then
    log "configuring preset $preset"
    cmake --preset "$preset" >/dev/null
  fi
  log "building preset $preset"
  if [ $# -gt 0 ]; then
    cmake --build --preset "$preset" --target "$@"
  else
    cmake --build --preset "$preset"
  fi
}
