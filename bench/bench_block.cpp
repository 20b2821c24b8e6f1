// An op-built model's training step: one pre-LayerNorm Transformer block (self-attention and a
// GELU feed-forward, residuals) on [32, 64, 128] with 4 heads, Adam. Prints the median step in
// milliseconds as a JSON line, for bench/ab_compare.py's `block` workload: the backward of ops
// outside the fused recurrent kernels (matmul, softmax, layer_norm, gelu, element-wise).
#include <fmt/format.h>

#include <cstdlib>
#include <memory>
#include <vector>

#include "bench_util.hpp"
#include "tapegrad/autograd/ops.hpp"
#include "tapegrad/autograd/tape.hpp"
#include "tapegrad/nn/nn.hpp"
#include "tapegrad/optim/optimizers.hpp"

using namespace tg;

int main(int argc, char** argv) {
  const int repeats = argc > 1 ? std::atoi(argv[1]) : 5;
  const int steps = argc > 2 ? std::atoi(argv[2]) : 5;  // per repeat
  tune_malloc_for_training();
  const std::size_t batch = 32, length = 64, dim = 128, heads = 4;
  manual_seed(0);
  nn::LayerNorm norm1(nn::LayerNormOptions({dim})), norm2(nn::LayerNormOptions({dim}));
  nn::MultiheadAttention attention(nn::MultiheadAttentionOptions(dim, heads).batch_first(true));
  nn::Linear up(dim, 4 * dim), down(4 * dim, dim);
  std::vector<Tensor> params;
  for (nn::Module* m : std::vector<nn::Module*>{&norm1, &norm2, &attention, &up, &down})
    for (const Tensor& p : m->parameters()) params.push_back(p);
  optim::Adam adam(params, optim::AdamOptions{1e-3});
  const Tensor x = Tensor::uniform({batch, length, dim}, -1, 1);
  const Tensor target = Tensor::uniform({batch, length, dim}, -1, 1);

  auto step = [&] {
    const Tensor y = norm1(x);
    const Tensor h = x + attention(y, y, y).output;
    const Tensor out = h + down(gelu(up(norm2(h))));
    const Tensor loss = mean((out - target) * (out - target));
    adam.zero_grad();
    loss.backward();
    adam.step();
  };
  step();  // warm-up: allocations, BLAS threads
  const double seconds = bench::median_seconds(repeats, [&] {
    for (int i = 0; i < steps; ++i) step();
  });
  fmt::print("{{\"metric\": \"block_step_ms\", \"value\": {:.4f}}}\n", seconds / steps * 1e3);
}
