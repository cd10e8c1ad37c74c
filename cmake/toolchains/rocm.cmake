# Toolchain for a ROCm >= 6 install (default /opt/rocm, or $ROCM_PATH): amdclang++ for HIP,
# the default host compiler for C++.
if(DEFINED ENV{ROCM_PATH})
  set(KVSCALE_ROCM_PATH "$ENV{ROCM_PATH}")
else()
  set(KVSCALE_ROCM_PATH "/opt/rocm")
endif()
if(EXISTS "${KVSCALE_ROCM_PATH}/lib/llvm/bin/clang++")
  set(CMAKE_HIP_COMPILER "${KVSCALE_ROCM_PATH}/lib/llvm/bin/clang++")
endif()
list(PREPEND CMAKE_PREFIX_PATH "${KVSCALE_ROCM_PATH}")
