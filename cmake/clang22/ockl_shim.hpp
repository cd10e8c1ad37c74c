// cmake/clang22/ockl_shim.hpp: force-included (-include) by the clang-22 device-only build of the
// kernels for gfx942/gfx950 (cmake/KvscaleDeviceCheck.cmake). Not part of any shipped library.
//
// Debian 12's ROCm 5.2 device libraries stop at gfx940, so that build uses -nogpulib. ROCm 5.2's
// hip_runtime.h implements threadIdx/blockIdx/blockDim/gridDim as calls into the device library
// (__ockl_get_*); without it they stay external calls (s_swappc_b64, a dynamic stack). These
// definitions replace them with the compiler builtins the device library itself uses for code
// object v5: work-item/work-group ids are registers, the work-group size and the block counts are
// read from the v5 implicit kernel arguments (hidden_block_count_{x,y,z} at offsets 0/4/8).
#pragma once
#include <hip/hip_runtime.h>

#if defined(__HIP_DEVICE_COMPILE__)
extern "C" __device__ __attribute__((const, always_inline)) size_t __ockl_get_local_id(uint dim) {
  return dim == 0 ? __builtin_amdgcn_workitem_id_x()
                  : (dim == 1 ? __builtin_amdgcn_workitem_id_y() : __builtin_amdgcn_workitem_id_z());
}
extern "C" __device__ __attribute__((const, always_inline)) size_t __ockl_get_group_id(uint dim) {
  return dim == 0 ? __builtin_amdgcn_workgroup_id_x()
                  : (dim == 1 ? __builtin_amdgcn_workgroup_id_y() : __builtin_amdgcn_workgroup_id_z());
}
extern "C" __device__ __attribute__((const, always_inline)) size_t __ockl_get_local_size(uint dim) {
  return dim == 0 ? __builtin_amdgcn_workgroup_size_x()
                  : (dim == 1 ? __builtin_amdgcn_workgroup_size_y() : __builtin_amdgcn_workgroup_size_z());
}
extern "C" __device__ __attribute__((const, always_inline)) size_t __ockl_get_num_groups(uint dim) {
  const auto* implicit = (const __attribute__((address_space(4))) unsigned*)__builtin_amdgcn_implicitarg_ptr();
  return implicit[dim < 3 ? dim : 0];
}
#endif
