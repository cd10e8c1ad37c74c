// kvscale/kvscale.hpp: everything. Include the narrower headers to keep builds lean.
#pragma once

#include "kvscale/calibration.hpp"
#include "kvscale/cpu.hpp"
#include "kvscale/fp8.hpp"
#include "kvscale/gpu.hpp"
#include "kvscale/half.hpp"
#include "kvscale/kv_cache.hpp"
#include "kvscale/scales.hpp"
#include "kvscale/status.hpp"
#include "kvscale/version.hpp"
