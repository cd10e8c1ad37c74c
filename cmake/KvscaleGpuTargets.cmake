# GPU_TARGETS / AMDGPU_TARGETS -> CMAKE_HIP_ARCHITECTURES, keeping only what the compiler accepts.
#
# ROCm libraries accept GPU_TARGETS (and the legacy AMDGPU_TARGETS); CMake's HIP language reads
# CMAKE_HIP_ARCHITECTURES. We accept all three. rocm_agent_enumerator cannot be trusted on CI
# machines without /sys/class/kfd (CMake then silently falls back to gfx803), so the default list
# is explicit. rocm_check_target_ids() asks the C++ compiler, which is g++ here, so each target is
# probed by compiling a real HIP kernel (device libs included: clang-15 accepts gfx1100 as a target
# id, but Debian's device-libs 5.2 cannot build it). The probe runs before enable_language(HIP),
# because CMake's own compiler check already compiles for every listed architecture.

set(KVSCALE_DEFAULT_GPU_TARGETS "gfx90a;gfx940;gfx942;gfx950")

# kvscale_resolve_gpu_targets(<out-var> <hip-compiler>)
function(kvscale_resolve_gpu_targets out_var compiler)
  if(DEFINED CMAKE_HIP_ARCHITECTURES AND NOT "${CMAKE_HIP_ARCHITECTURES}" STREQUAL "")
    set(requested "${CMAKE_HIP_ARCHITECTURES}")
  elseif(DEFINED GPU_TARGETS AND NOT "${GPU_TARGETS}" STREQUAL "")
    set(requested "${GPU_TARGETS}")
  elseif(DEFINED AMDGPU_TARGETS AND NOT "${AMDGPU_TARGETS}" STREQUAL "")
    set(requested "${AMDGPU_TARGETS}")
  else()
    set(requested "${KVSCALE_DEFAULT_GPU_TARGETS}")
  endif()
  separate_arguments(extra UNIX_COMMAND "${CMAKE_HIP_COMPILER_ARG1}")
  set(probe_dir "${CMAKE_BINARY_DIR}/CMakeFiles/kvscale_arch_probe")
  file(MAKE_DIRECTORY "${probe_dir}")
  file(WRITE "${probe_dir}/probe.hip"
       "#include <hip/hip_runtime.h>\n__global__ void kvscale_probe(int* p) { *p = 1; }\n")
  set(accepted "")
  foreach(arch IN LISTS requested)
    string(MAKE_C_IDENTIFIER "KVSCALE_HIP_ARCH_OK_${arch}" var)
    if(NOT DEFINED ${var})
      execute_process(
        COMMAND "${compiler}" ${extra} -x hip --offload-arch=${arch} --cuda-device-only -c
                "${probe_dir}/probe.hip" -o "${probe_dir}/probe-${arch}.o"
        RESULT_VARIABLE rc OUTPUT_QUIET ERROR_QUIET)
      if(rc EQUAL 0)
        set(${var} ON CACHE INTERNAL "")
      else()
        set(${var} OFF CACHE INTERNAL "")
      endif()
    endif()
    if(${var})
      list(APPEND accepted "${arch}")
    else()
      message(STATUS "kvscale: dropping GPU target ${arch}: ${compiler} cannot build it")
    endif()
  endforeach()
  set(${out_var} "${accepted}" PARENT_SCOPE)
endfunction()
