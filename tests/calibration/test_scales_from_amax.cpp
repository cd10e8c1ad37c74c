// scales_from_amax: scale = amax / 448 (IEEE division) per tensor and per head, the rank-major
// buffer layout, the FLT_MIN floor, refusals (NaN, negative, inf, bad sizes), and the tables it
// returns through write_scales_json / write_scales_safetensors and the loader.
#include <gtest/gtest.h>

#include <cfloat>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "codec/reference.hpp"
#include "kvscale/calibration.hpp"
#include "kvscale/cpu.hpp"

namespace kvscale {
namespace {

using ref::bits;

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/kvscale_calib_XXXXXX";
    const char* d = ::mkdtemp(tmpl);
    path_ = d ? d : "";
  }
  ~TempDir() {
    if (!path_.empty()) (void)std::system(("rm -rf '" + path_ + "'").c_str());
  }
  std::string path(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// 2 ranks x 3 layers x 2 heads; amax value = distinct per position.
std::vector<float> sample_amax() {
  const int H = 2;
  std::vector<float> a(2 * 3 * static_cast<std::size_t>(amax_floats(H)));
  for (std::size_t i = 0; i < a.size(); ++i) a[i] = 0.37f * static_cast<float>(i + 1);
  return a;
}

TEST(ScalesFromAmax, PerTensorAndPerHeadAreAmaxOver448) {
  const std::vector<float> a = sample_amax();
  const std::size_t stride = static_cast<std::size_t>(amax_floats(2));
  for (Granularity g : {Granularity::tensor, Granularity::head}) {
    ScaleTable t;
    CalibrationOptions o;
    o.granularity = g;
    o.model_type = "llama";
    CalibrationReport rep;
    ASSERT_EQ(scales_from_amax(a.data(), 2, 3, 2, o, &t, &rep), Status::success) << last_error_message();
    EXPECT_EQ(rep.floored, 0);
    ASSERT_EQ(t.tp_size(), 2);
    ASSERT_EQ(t.num_layers(), 3);
    EXPECT_EQ(t.heads_per_rank(), g == Granularity::head ? 2 : 0);
    EXPECT_EQ(*t.model_type(), "llama");
    for (int rank = 0; rank < 2; ++rank)
      for (int layer = 0; layer < 3; ++layer) {
        const float* b = a.data() + (static_cast<std::size_t>(rank) * 3 + static_cast<std::size_t>(layer)) * stride;
        EXPECT_EQ(t.k_granularity(rank, layer), g);
        if (g == Granularity::tensor) {
          ASSERT_EQ(t.k_count(rank, layer), 1);
          EXPECT_EQ(bits(t.k_scales(rank, layer)[0]), bits(b[0] / 448.0f));
          EXPECT_EQ(bits(t.v_scales(rank, layer)[0]), bits(b[1] / 448.0f));
        } else {
          ASSERT_EQ(t.k_count(rank, layer), 2);
          for (int h = 0; h < 2; ++h) {
            EXPECT_EQ(bits(t.k_scales(rank, layer)[h]), bits(b[2 + h] / 448.0f));
            EXPECT_EQ(bits(t.v_scales(rank, layer)[h]), bits(b[4 + h] / 448.0f));
          }
        }
      }
  }
}

TEST(ScalesFromAmax, ZerosAndTinyValuesGetTheFloor) {
  std::vector<float> a = {0.0f, -0.0f, 1e-40f, 448.0f * FLT_MIN};  // 1 layer, 1 head: K, V, K0, V0
  ScaleTable t;
  CalibrationOptions o;
  o.granularity = Granularity::head;
  CalibrationReport rep;
  ASSERT_EQ(scales_from_amax(a.data(), 1, 1, 1, o, &t, &rep), Status::success) << last_error_message();
  EXPECT_EQ(rep.floored, 1);  // 1e-40 / 448 < FLT_MIN; 448 * FLT_MIN / 448 == FLT_MIN exactly
  EXPECT_EQ(t.k_scales(0, 0)[0], kMinCalibratedScale);
  EXPECT_EQ(t.v_scales(0, 0)[0], FLT_MIN);
  o.granularity = Granularity::tensor;
  ASSERT_EQ(scales_from_amax(a.data(), 1, 1, 1, o, &t, &rep), Status::success);
  EXPECT_EQ(rep.floored, 2);  // +0 and -0
  EXPECT_EQ(t.k_scales(0, 0)[0], FLT_MIN);
  EXPECT_EQ(t.v_scales(0, 0)[0], FLT_MIN);
  // The floor is a valid scale: it survives the JSON writer and the loader, bit for bit.
  TempDir d;
  WriteOptions wo;
  wo.merge = MergePolicy::max;
  ASSERT_EQ(write_scales_json(t, d.path("s.json"), wo), Status::success) << last_error_message();
  const LoadResult r = load_scales_file(d.path("s.json"));
  ASSERT_TRUE(r.ok()) << (r.diagnostics.empty() ? "" : format_diagnostic(r.diagnostics[0]));
  EXPECT_EQ(bits(r.table.scale(0, 0)), bits(FLT_MIN));
  EXPECT_EQ(effective_scale(FLT_MIN, ScaleConversion{Fp8Format::e4m3fnuz, true}), 2.0f * FLT_MIN);
}

TEST(ScalesFromAmax, RefusesNanNegativeInfAndBadSizes) {
  const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
  ScaleTable t;
  const CalibrationOptions o;
  for (float bad : {inf, nan, -1.0f}) {
    std::vector<float> a = {1.0f, bad, 1.0f, 1.0f};
    EXPECT_EQ(scales_from_amax(a.data(), 1, 1, 1, o, &t), Status::invalid_argument) << bad;
    EXPECT_NE(last_error_message().find("rank 0 layer 0 V"), std::string::npos) << last_error_message();
  }
  std::vector<float> a(4, 1.0f);
  a[3] = inf;  // a per-head inf matters only for per-head scales
  EXPECT_EQ(scales_from_amax(a.data(), 1, 1, 1, o, &t), Status::success);
  CalibrationOptions ho;
  ho.granularity = Granularity::head;
  EXPECT_EQ(scales_from_amax(a.data(), 1, 1, 1, ho, &t), Status::invalid_argument);
  EXPECT_NE(last_error_message().find("V head 0 amax is inf"), std::string::npos) << last_error_message();
  EXPECT_EQ(scales_from_amax(nullptr, 1, 1, 1, o, &t), Status::invalid_argument);
  EXPECT_EQ(scales_from_amax(a.data(), 1, 1, 1, o, nullptr), Status::invalid_argument);
  EXPECT_EQ(scales_from_amax(a.data(), 0, 1, 1, o, &t), Status::invalid_argument);
  EXPECT_EQ(scales_from_amax(a.data(), 1, 0, 1, o, &t), Status::invalid_argument);
  EXPECT_EQ(scales_from_amax(a.data(), 1, 1, 0, o, &t), Status::invalid_argument);
}

// The whole flow on the CPU: observe two layers, scales, both writers, the loader.
TEST(ScalesFromAmax, ObserveThenWriteJsonAndSafetensors) {
  const int L = 2, H = 2, D = 4;
  const TokenRows r{3, H, D, H * D, H * D};
  std::vector<float> amax(static_cast<std::size_t>(L * amax_floats(H)), 0.0f);
  for (int layer = 0; layer < L; ++layer) {
    std::vector<float> k(24), v(24);
    for (std::size_t i = 0; i < k.size(); ++i) {
      k[i] = static_cast<float>(i % 7) * (layer ? -2.0f : 1.0f);
      v[i] = static_cast<float>(i % 5) * 0.5f;
    }
    ASSERT_EQ(cpu::observe_amax(
                  ObserveAmaxArgs{DType::f32, r, k.data(), v.data(), nullptr, amax.data() + layer * amax_floats(H)}),
              Status::success);
  }
  EXPECT_EQ(amax[0], 6.0f);
  EXPECT_EQ(amax[1], 2.0f);
  EXPECT_EQ(amax[static_cast<std::size_t>(amax_floats(H))], 12.0f);
  ScaleTable t;
  ASSERT_EQ(scales_from_amax(amax.data(), 1, L, H, CalibrationOptions{}, &t), Status::success);
  TempDir d;
  // JSON holds one scale per layer: K != V needs the max merge.
  EXPECT_EQ(write_scales_json(t, d.path("a.json")), Status::invalid_argument);
  WriteOptions wo;
  wo.merge = MergePolicy::max;
  ASSERT_EQ(write_scales_json(t, d.path("a.json"), wo), Status::success) << last_error_message();
  const LoadResult j = load_scales(d.path("a.json"));
  ASSERT_TRUE(j.ok());
  EXPECT_EQ(j.table.scale(0, 0), 6.0f / 448.0f);
  EXPECT_EQ(j.table.scale(0, 1), 12.0f / 448.0f);
  ASSERT_EQ(write_scales_safetensors(t, d.path("a.safetensors")), Status::success) << last_error_message();
  const LoadResult s = load_scales(d.path("a.safetensors"));
  ASSERT_TRUE(s.ok()) << (s.diagnostics.empty() ? "" : format_diagnostic(s.diagnostics[0]));
  EXPECT_EQ(s.table.k_scales(0, 1)[0], 12.0f / 448.0f);
  EXPECT_EQ(s.table.v_scales(0, 1)[0], 2.0f / 448.0f);
  // Refuses to overwrite without force.
  EXPECT_EQ(write_scales_safetensors(t, d.path("a.safetensors")), Status::invalid_argument);
}

}  // namespace
}  // namespace kvscale
