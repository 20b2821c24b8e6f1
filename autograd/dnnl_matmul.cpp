// oneDNN matmul primitives for tg::blas: one primitive per product shape, created on first use
// and kept (creating one costs far more than a small product), per thread.
#include "autograd/dnnl_matmul.hpp"

#include <stdexcept>

#ifdef TAPEGRAD_HAVE_DNNL

#include <fmt/format.h>
#include <oneapi/dnnl/dnnl.hpp>

#include <functional>
#include <algorithm>
#include <optional>
#include <vector>
#include <list>
#include <unordered_map>

// oneDNN runs on OpenMP here (Debian's build links libgomp), and takes its thread count from the
// calling thread's OpenMP setting. Weak: resolved from the libgomp that libdnnl loads.
extern "C" void omp_set_num_threads(int) __attribute__((weak));

namespace tg::dnnl_matmul {

struct PackedWeights {
  Product product;
  dnnl::memory weights;
};

bool Product::operator==(const Product& o) const {
  return operands == o.operands && trans_a == o.trans_a && trans_b == o.trans_b && m == o.m &&
         n == o.n && k == o.k && lda == o.lda && ldb == o.ldb && ldc == o.ldc &&
         accumulate == o.accumulate && threads == o.threads;
}

namespace {

using dt = dnnl::memory::data_type;
using tag = dnnl::memory::format_tag;
using md = dnnl::memory::desc;

dnnl::engine& engine() {
  static dnnl::engine e(dnnl::engine::kind::cpu, 0);
  return e;
}

dnnl::stream& stream() {
  thread_local dnnl::stream s(engine());
  return s;
}

void use_threads(int threads) {
  thread_local int current = 0;
  if (threads != current && omp_set_num_threads) {
    omp_set_num_threads(threads);
    current = threads;
  }
}

// A float32 matrix [rows, cols] in a row-major buffer with leading dimension ld, or the transpose
// of one (then ld is the leading dimension of the stored [cols, rows]).
md user_md(int rows, int cols, bool transposed, int ld) {
  return md({rows, cols}, dt::f32,
            transposed ? dnnl::memory::dims{1, ld} : dnnl::memory::dims{ld, 1});
}

// A primitive and the memory objects around it; user buffers get their address per call.
// B in oneDNN's preferred layout (format_tag::any) is reordered into, either per call or once by
// pack(); a float32 product that is not packed reads B where it is. A is converted to bf16 in
// its own orientation: transposing it in the reorder took longer than the product (16384 x 2048,
// measured). C with rows apart (ldc > n, e.g. h in an LSTM's [h, c] state rows) is computed
// into a dense buffer and then copied or added: oneDNN 2.6 falls back from its AMX kernel to a
// slow one for a strided destination (measured: 256x2048x512, 1.2 ms instead of ~0.3).
// The converted operands and the dense C live in per-thread scratch buffers shared by all plans
// (a plan per shape holding its own would keep tens of MB per large shape).
struct Plan {
  dnnl::matmul matmul;
  dnnl::memory a_user, b_user, c;
  dnnl::memory a_low, b_low;  // bf16 A; B in the primitive's weights layout
  std::optional<dnnl::reorder> a_convert, b_convert;
  bool dense_c = true;  // false: C is computed into scratch, then copied or added (ldc > n)
};

// Grow-only per-thread buffers: 0 converted A, 1 converted B, 2 dense C.
void* scratch(int which, std::size_t bytes) {
  thread_local std::vector<char> buffers[3];
  std::vector<char>& b = buffers[which];
  if (b.size() < bytes) b.resize(bytes);
  return b.data();
}

Plan make_plan(const Product& p, bool packed) {
  const bool bf16 = p.operands == Operands::BFloat16;
  const bool dense_c = p.ldc == p.n;
  const md a_md = user_md(p.m, p.k, p.trans_a, p.lda);
  const md b_md = user_md(p.k, p.n, p.trans_b, p.ldb);
  const md c_md({p.m, p.n}, dt::f32, dnnl::memory::dims{dense_c ? p.ldc : p.n, 1});
  const md src_md = bf16 ? md({p.m, p.k}, dt::bf16, p.trans_a ? tag::ba : tag::ab) : a_md;
  const bool reorder_b = bf16 || packed;
  const md wei_md = reorder_b ? md({p.k, p.n}, bf16 ? dt::bf16 : dt::f32, tag::any) : b_md;
  dnnl::primitive_attr attr;
  if (p.accumulate && dense_c) {
    dnnl::post_ops ops;
    ops.append_sum(1.0f);
    attr.set_post_ops(ops);
  }
  use_threads(p.threads);
  const dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(src_md, wei_md, c_md), attr, engine());
  Plan plan;
  plan.matmul = dnnl::matmul(pd);
  plan.a_user = dnnl::memory(a_md, engine(), nullptr);
  plan.b_user = dnnl::memory(b_md, engine(), nullptr);
  plan.c = dnnl::memory(c_md, engine(), nullptr);
  if (bf16) {
    plan.a_low = dnnl::memory(pd.src_desc(), engine(), nullptr);
    plan.a_convert = dnnl::reorder(dnnl::reorder::primitive_desc(engine(), a_md, engine(),
                                                                 pd.src_desc()));
  }
  if (reorder_b) {
    plan.b_low = dnnl::memory(pd.weights_desc(), engine(), nullptr);
    plan.b_convert = dnnl::reorder(dnnl::reorder::primitive_desc(engine(), b_md, engine(),
                                                                 pd.weights_desc()));
  }
  plan.dense_c = dense_c;
  return plan;
}

struct Key {
  Product product;
  bool packed = false;
  bool operator==(const Key& o) const { return product == o.product && packed == o.packed; }
};

struct KeyHash {
  std::size_t operator()(const Key& key) const {
    const Product& p = key.product;
    std::size_t h = 0;
    for (long v : {long(p.operands), long(p.trans_a), long(p.trans_b), long(p.m), long(p.n),
                   long(p.k), long(p.lda), long(p.ldb), long(p.ldc), long(p.accumulate),
                   long(p.threads), long(key.packed)})
      h = h * 1000003u ^ std::hash<long>()(v);
    return h;
  }
};

// The plans of this thread, most recently used first, at most kMaxPlans: a run whose shapes keep
// changing (variable batch sizes or lengths) must not grow it without end. A plan is a primitive
// and its memory descriptors (the operands' buffers are the shared scratch), so 256 of them are
// a few MB, and a recurrent run's working set (a few shapes per layer) stays far below.
struct PlanCache {
  std::list<std::pair<Key, Plan>> recent;
  std::unordered_map<Key, std::list<std::pair<Key, Plan>>::iterator, KeyHash> index;
};

PlanCache& plan_cache() {
  thread_local PlanCache cache;
  return cache;
}

Plan& plan_for(const Product& p, bool packed) {
  PlanCache& cache = plan_cache();
  const Key key{p, packed};
  const auto found = cache.index.find(key);
  if (found != cache.index.end()) {
    cache.recent.splice(cache.recent.begin(), cache.recent, found->second);
    return found->second->second;
  }
  cache.recent.emplace_front(key, make_plan(p, packed));
  cache.index.emplace(key, cache.recent.begin());
  if (cache.recent.size() > kMaxPlans) {
    cache.index.erase(cache.recent.back().first);
    cache.recent.pop_back();
  }
  return cache.recent.front().second;
}

}  // namespace

bool available() { return true; }

std::size_t cached_plans() { return plan_cache().recent.size(); }

std::string bf16_family() {
  const auto isa = static_cast<unsigned>(dnnl::get_effective_cpu_isa());
  auto has = [isa](dnnl::cpu_isa level) {
    const auto bits = static_cast<unsigned>(level);
    return (isa & bits) == bits;
  };
  if (has(dnnl::cpu_isa::avx512_core_amx)) return "AMX";
  if (has(dnnl::cpu_isa::avx512_core_bf16)) return "AVX512-BF16";
  return "";
}

std::string version() {
  const dnnl_version_t* v = dnnl::version();
  return fmt::format("oneDNN {}.{}.{}", v->major, v->minor, v->patch);
}

std::string bf16_implementation() {
  const md a({32, 256}, dt::bf16, tag::ab), b({256, 512}, dt::bf16, tag::any),
      c({32, 512}, dt::f32, tag::ab);
  const dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(a, b, c), engine());
  return pd.impl_info_str();
}

std::shared_ptr<const PackedWeights> pack(const Product& p, const float* b) {
  use_threads(p.threads);
  Plan& plan = plan_for(p, true);
  auto packed = std::make_shared<PackedWeights>();
  packed->product = p;
  packed->weights = dnnl::memory(plan.b_low.get_desc(), engine());
  plan.b_user.set_data_handle(const_cast<float*>(b));
  plan.b_convert->execute(stream(), plan.b_user, packed->weights);
  stream().wait();
  return packed;
}

void gemm(const Product& p, const float* a, const float* b, float* c,
          const PackedWeights* packed) {
  use_threads(p.threads);
  const bool use_packed = packed && packed->product == p;
  Plan& plan = plan_for(p, use_packed);
  dnnl::stream& s = stream();
  plan.a_user.set_data_handle(const_cast<float*>(a));
  float* dense = plan.dense_c ? c
                              : static_cast<float*>(scratch(2, sizeof(float) * p.m * p.n));
  plan.c.set_data_handle(dense);
  dnnl::memory src = plan.a_user;
  if (plan.a_convert) {
    plan.a_low.set_data_handle(scratch(0, plan.a_low.get_desc().get_size()));
    plan.a_convert->execute(s, plan.a_user, plan.a_low);
    src = plan.a_low;
  }
  dnnl::memory weights;
  if (use_packed) {
    weights = packed->weights;
  } else {
    plan.b_user.set_data_handle(const_cast<float*>(b));
    weights = plan.b_user;
    if (plan.b_convert) {
      plan.b_low.set_data_handle(scratch(1, plan.b_low.get_desc().get_size()));
      plan.b_convert->execute(s, plan.b_user, plan.b_low);
      weights = plan.b_low;
    }
  }
  plan.matmul.execute(s, {{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, weights}, {DNNL_ARG_DST, plan.c}});
  s.wait();
  if (plan.dense_c) return;
  const float* from = dense;
  for (int i = 0; i < p.m; ++i, from += p.n) {
    float* row = c + std::size_t(i) * p.ldc;
    if (p.accumulate)
      for (int j = 0; j < p.n; ++j) row[j] += from[j];
    else
      std::copy(from, from + p.n, row);
  }
}

}  // namespace tg::dnnl_matmul

#else  // built without oneDNN: tg::blas asks available() and never calls the rest

namespace tg::dnnl_matmul {

struct PackedWeights {};

bool Product::operator==(const Product&) const { return false; }
bool available() { return false; }
std::size_t cached_plans() { return 0; }
std::string bf16_family() { return ""; }
std::string version() { return ""; }
std::string bf16_implementation() { return ""; }
std::shared_ptr<const PackedWeights> pack(const Product&, const float*) {
  throw std::logic_error("tapegrad was built without oneDNN");
}
void gemm(const Product&, const float*, const float*, float*, const PackedWeights*) {
  throw std::logic_error("tapegrad was built without oneDNN");
}

}  // namespace tg::dnnl_matmul

#endif
