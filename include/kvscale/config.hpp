// kvscale/config.hpp: portability macros shared by host and device code. No includes.
#pragma once

/// Marks functions usable from both host and device code (HIP or CUDA); empty for plain C++.
#if defined(__HIPCC__) || defined(__CUDACC__)
#define KVSCALE_HOST_DEVICE __host__ __device__
#else
#define KVSCALE_HOST_DEVICE
#endif

#if defined(__HIP_DEVICE_COMPILE__) || defined(__CUDA_ARCH__)
#define KVSCALE_DEVICE_PASS 1
#else
#define KVSCALE_DEVICE_PASS 0
#endif
