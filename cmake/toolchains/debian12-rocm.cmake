# Toolchain for Debian 12 (bookworm) distro ROCm 5.2: hipcc / libamdhip64-dev 5.2.3 with clang-15
# and rocm-device-libs, used through CMake's native HIP language. Host C++ stays on the default
# compiler (g++). Why each line exists: ../../docs/building.md, "Debian 12".
set(_kvscale_triplet "x86_64-linux-gnu")
set(_kvscale_bitcode "/usr/lib/${_kvscale_triplet}/amdgcn/bitcode")
if(NOT EXISTS "/usr/lib/${_kvscale_triplet}/cmake/hip-lang/hip-lang-config.cmake" OR NOT EXISTS "${_kvscale_bitcode}")
  message(FATAL_ERROR "debian12-rocm toolchain: install hipcc and libamdhip64-dev first "
                      "(apt-get install -y hipcc libamdhip64-dev rocm-cmake)")
endif()
# /usr/bin/clang++ is clang-14; Debian's ROCm 5.2 is built for clang-15.
set(CMAKE_HIP_COMPILER clang++-15)
# Bound to the compiler itself so that they survive -DCMAKE_HIP_FLAGS and $HIPFLAGS, which make
# CMake ignore CMAKE_HIP_FLAGS_INIT during compiler identification.
set(CMAKE_HIP_COMPILER_ARG1 "--rocm-path=/usr --rocm-device-lib-path=${_kvscale_bitcode}")
# hip, hip-lang, amd_comgr and hsa-runtime64 configs; toolchain files are re-read by try_compile().
list(APPEND CMAKE_PREFIX_PATH "/usr/lib/${_kvscale_triplet}/cmake")
# CMake < 3.27 looks only in <rocm-root>/lib/cmake/hip-lang (fixed upstream in 3.27, kitware #24562).
if(CMAKE_VERSION VERSION_LESS 3.27 AND NOT CMAKE_HIP_COMPILER_ROCM_ROOT)
  set(_kvscale_root "${CMAKE_BINARY_DIR}/_debian_rocm_root")
  if(NOT EXISTS "${_kvscale_root}/lib/cmake/hip-lang")
    file(MAKE_DIRECTORY "${_kvscale_root}/lib/cmake")
    file(CREATE_LINK "/usr/lib/${_kvscale_triplet}/cmake/hip-lang" "${_kvscale_root}/lib/cmake/hip-lang" SYMBOLIC)
  endif()
  set(CMAKE_HIP_COMPILER_ROCM_ROOT "${_kvscale_root}")
endif()
