// The contiguous kernels compiled as host C++ for the emulator (like kernels/cuda/*.cu for nvcc).
#include "contiguous.hip"
