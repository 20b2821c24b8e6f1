// Gradcheck cases of the convolution and pooling family: conv1d over stride, padding, dilation,
// groups, bias, K = 1 and padding 'same'; unfold1d / fold1d; max and avg pooling variants.
#include "op_cases.hpp"

#include "tapegrad/autograd/ops/convolution.hpp"

namespace tg::testing {

void add_convolution_cases(std::vector<GradcheckCase>& cases) {
  using In = const std::vector<Tensor>&;
  auto conv = [](std::size_t stride, ConvPadding padding, std::size_t dilation,
                 std::size_t groups) {
    return [=](In in) {
      return conv1d(in[0], in[1], in.size() > 2 ? in[2] : Tensor(), stride, padding, dilation,
                    groups);
    };
  };
  cases.push_back({"conv1d", "plain, with bias", {{2, 3, 7}, {4, 3, 3}, {4}}, conv(1, 0, 1, 1)});
  cases.push_back({"conv1d", "stride 2, padding 1", {{2, 2, 8}, {3, 2, 3}, {3}}, conv(2, 1, 1, 1)});
  cases.push_back({"conv1d", "dilation 2, padding 2, no bias", {{1, 2, 9}, {2, 2, 3}}, conv(1, 2, 2, 1)});
  cases.push_back({"conv1d", "groups 2, no bias", {{2, 4, 6}, {6, 2, 3}}, conv(1, 1, 1, 2)});
  cases.push_back({"conv1d", "depthwise (groups = channels)", {{1, 3, 5}, {3, 1, 2}, {3}}, conv(1, 0, 1, 3)});
  cases.push_back({"conv1d", "K = 1", {{2, 3, 4}, {5, 3, 1}, {5}}, conv(1, 0, 1, 1)});
  cases.push_back({"conv1d", "stride 3 leaving a remainder, padding 1", {{1, 2, 10}, {2, 2, 4}, {2}}, conv(3, 1, 1, 1)});
  cases.push_back({"conv1d", "padding same, even K (one more zero on the right)", {{1, 2, 6}, {3, 2, 4}, {3}},
                   conv(1, PaddingMode::Same, 1, 1)});
  cases.push_back({"conv1d", "padding valid, dilation 2", {{2, 2, 7}, {2, 2, 2}, {2}}, conv(1, PaddingMode::Valid, 2, 1)});
  cases.push_back({"conv1d", "unbatched [C, L]", {{3, 6}, {2, 3, 3}, {2}}, conv(1, 1, 1, 1)});

  cases.push_back({"unfold1d", "stride 2, padding 1", {{2, 3, 7}},
                   [](In in) { return unfold1d(in[0], 3, 2, 1, 1); }});
  cases.push_back({"unfold1d", "dilation 2, padding 2", {{1, 2, 6}},
                   [](In in) { return unfold1d(in[0], 3, 1, 2, 2); }});
  cases.push_back({"fold1d", "stride 2, padding 1", {{2, 9, 4}},
                   [](In in) { return fold1d(in[0], 7, 3, 2, 1, 1); }});
  cases.push_back({"fold1d", "overlapping windows, dilation 2", {{1, 4, 5}},
                   [](In in) { return fold1d(in[0], 7, 2, 1, 0, 2); }});

  auto maxp = [](std::size_t k, std::optional<std::size_t> s, std::size_t p, std::size_t d, bool ceil) {
    return [=](In in) { return max_pool1d(in[0], k, s, p, d, ceil); };
  };
  cases.push_back({"max_pool1d", "kernel 2, default stride", {{2, 3, 8}}, maxp(2, std::nullopt, 0, 1, false)});
  cases.push_back({"max_pool1d", "kernel 3, stride 2, padding 1", {{2, 2, 7}}, maxp(3, 2, 1, 1, false)});
  cases.push_back({"max_pool1d", "dilation 2, overlapping", {{1, 2, 9}}, maxp(3, 1, 0, 2, false)});
  cases.push_back({"max_pool1d", "ceil_mode, partial last window", {{1, 3, 8}}, maxp(3, 2, 0, 1, true)});
  cases.push_back({"max_pool1d", "unbatched, ceil_mode, padding", {{2, 7}}, maxp(4, 3, 2, 1, true)});

  auto avgp = [](std::size_t k, std::optional<std::size_t> s, std::size_t p, bool ceil, bool include) {
    return [=](In in) { return avg_pool1d(in[0], k, s, p, ceil, include); };
  };
  cases.push_back({"avg_pool1d", "kernel 2, default stride", {{2, 3, 8}}, avgp(2, std::nullopt, 0, false, true)});
  cases.push_back({"avg_pool1d", "padding 1, counting the padding", {{2, 2, 7}}, avgp(3, 2, 1, false, true)});
  cases.push_back({"avg_pool1d", "padding 1, not counting it", {{2, 2, 7}}, avgp(3, 2, 1, false, false)});
  cases.push_back({"avg_pool1d", "ceil_mode past the padding", {{1, 2, 8}}, avgp(3, 2, 1, true, true)});
  cases.push_back({"avg_pool1d", "unbatched, ceil_mode, overlapping", {{3, 6}}, avgp(4, 3, 2, true, false)});
}

}  // namespace tg::testing
