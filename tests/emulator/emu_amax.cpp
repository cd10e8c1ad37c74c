// The observe_amax kernel compiled as host C++ for the emulator (like kernels/cuda/*.cu for nvcc).
#include "amax.hip"
