# Device-code-only compile of the HIP kernels for chips the build's own HIP compiler cannot target.
#
# Debian 12's ROCm 5.2 (clang-15) stops at gfx940, but our users run gfx942 (MI300X/MI325X) and
# gfx950 (MI355X). Debian 12 also ships clang-22 (bookworm-updates), which targets both. This
# module compiles kernels/{contiguous,paged}.hip for KVSCALE_DEVICE_CHECK_ARCHS with that compiler
# against the same ROCm 5.2 headers, device code only, into
#   <build>/device-check/<arch>/<kernel>.hsaco      (one code-object-v5 ELF per source and arch)
# as part of `all`. These objects are NOT linked into libkvscale.so and are not loadable products:
# they exist so that scripts/isa-report can check the real gfx942/gfx950 code generation (16-byte
# loads, v_cvt_pk_fp8_f32, no scratch, no calls, VGPRs) on every CI run. Users build the `rocm`
# preset (ROCm >= 6) for those chips; docs/building.md.
#
# Flags (why each one):
#   -nogpulib                      ROCm 5.2's device libraries have no oclc_isa_version_942/950;
#   -include ockl_shim.hpp         ...so threadIdx/blockDim/... (calls into ockl in ROCm 5.2's
#                                  headers) are defined from compiler builtins (cmake/clang22/);
#   -mcode-object-version=5        what the shim's implicit-argument layout assumes (ROCm >= 6's default);
#   -D__AMDGCN_WAVEFRONT_SIZE=64   ROCm 5.2's headers use this macro, clang >= 20 no longer defines it;
#   the rest mirrors the real HIP build (-O3, -ffp-contract=off, no fast-math, early inlining, no
#   function calls, -Wall -Wextra [-Werror]).
#
# kvscale_add_device_check(<source-dir> <kernel-names...>)
set(KVSCALE_DEVICE_CHECK_ARCHS "" CACHE STRING
    "Extra AMD GPU targets compiled device-code-only with KVSCALE_DEVICE_CHECK_COMPILER (gfx942;gfx950 in the debian-rocm preset)")
set(KVSCALE_DEVICE_CHECK_COMPILER "clang++-22" CACHE STRING "clang used for KVSCALE_DEVICE_CHECK_ARCHS")

function(kvscale_add_device_check src_dir)
  if("${KVSCALE_DEVICE_CHECK_ARCHS}" STREQUAL "")
    return()
  endif()
  find_program(KVSCALE_DEVICE_CHECK_CLANG NAMES "${KVSCALE_DEVICE_CHECK_COMPILER}")
  if(NOT KVSCALE_DEVICE_CHECK_CLANG)
    message(FATAL_ERROR "kvscale: KVSCALE_DEVICE_CHECK_ARCHS=${KVSCALE_DEVICE_CHECK_ARCHS} needs "
                        "${KVSCALE_DEVICE_CHECK_COMPILER} (apt-get install -y clang-22 lld-22 llvm-22; "
                        "scripts/test installs it), or configure with -DKVSCALE_DEVICE_CHECK_ARCHS=")
  endif()
  set(shim "${PROJECT_SOURCE_DIR}/cmake/clang22/ockl_shim.hpp")
  set(flags -x hip --cuda-device-only --no-gpu-bundle-output -nogpulib -mcode-object-version=5
            -D__AMDGCN_WAVEFRONT_SIZE=64 --rocm-path=/usr -include "${shim}"
            -std=c++17 -O3 -DNDEBUG -fvisibility=hidden -ffp-contract=off -Wall -Wextra
            -mllvm -amdgpu-early-inline-all=true -mllvm -amdgpu-function-calls=false
            -D__HIP_PLATFORM_AMD__=1 -D__HIP_ROCclr__=1
            "-I$<JOIN:$<TARGET_PROPERTY:kvscale,INCLUDE_DIRECTORIES>,$<SEMICOLON>-I>")
  if(KVSCALE_WERROR)
    list(APPEND flags -Werror)
  endif()
  # clang ignores -MD/-MF for device-only HIP jobs, so the dependencies are the headers the
  # kernels can include (ours; the system's ROCm headers change only with the packages).
  file(GLOB headers CONFIGURE_DEPENDS "${src_dir}/*.hpp" "${PROJECT_SOURCE_DIR}/include/kvscale/*.hpp"
                                      "${PROJECT_SOURCE_DIR}/include/kvscale/*.in")
  set(outputs "")
  foreach(arch IN LISTS KVSCALE_DEVICE_CHECK_ARCHS)
    foreach(name IN LISTS ARGN)
      set(out "${CMAKE_BINARY_DIR}/device-check/${arch}/${name}.hsaco")
      add_custom_command(
        OUTPUT "${out}"
        COMMAND "${CMAKE_COMMAND}" -E make_directory "${CMAKE_BINARY_DIR}/device-check/${arch}"
        COMMAND "${KVSCALE_DEVICE_CHECK_CLANG}" ${flags} --offload-arch=${arch}
                -c "${src_dir}/${name}.hip" -o "${out}"
        DEPENDS "${src_dir}/${name}.hip" "${shim}" ${headers}
        COMMENT "device check: ${name}.hip for ${arch} (${KVSCALE_DEVICE_CHECK_COMPILER}, device code only)"
        COMMAND_EXPAND_LISTS VERBATIM)
      list(APPEND outputs "${out}")
    endforeach()
  endforeach()
  add_custom_target(kvscale_device_check ALL DEPENDS ${outputs})
  message(STATUS "kvscale: device-code-only check for ${KVSCALE_DEVICE_CHECK_ARCHS} with ${KVSCALE_DEVICE_CHECK_CLANG}")
endfunction()
