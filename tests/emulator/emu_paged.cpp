// The paged kernels compiled as host C++ for the emulator (like kernels/cuda/*.cu for nvcc).
#include "paged.hip"
