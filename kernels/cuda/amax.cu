// The CUDA variant compiles the HIP source unchanged (kernels/gpu_runtime.hpp maps the runtime).
#include "../amax.hip"
