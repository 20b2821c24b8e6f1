// bf16 conversions of parameters kept per thread, least recently used dropped first.
#include "autograd/parameter_cache.hpp"

#include <cstdint>
#include <list>
#include <tuple>

namespace tg::parameter_cache {

namespace {

// Enough for every weight of the models here, each in its forward and its backward product.
constexpr std::size_t kMaxEntries = 256;

struct Entry {
  const TensorImpl* impl = nullptr;  // compared first; `owner` tells a new tensor at its address
  std::weak_ptr<TensorImpl> owner;
  std::uint64_t version = 0;
  const float* data = nullptr;
  std::tuple<bool, bool, std::size_t, std::size_t, std::size_t, std::size_t, std::size_t, bool,
             std::size_t>
      product;
  std::shared_ptr<const blas::PreparedB> prepared;
};

std::list<Entry>& entries() {
  thread_local std::list<Entry> list;
  return list;
}

int as_int(std::size_t n) { return static_cast<int>(n); }

}  // namespace

std::shared_ptr<const blas::PreparedB> prepared(MatmulPrecision precision, const Tensor& weight,
                                                bool trans_a, bool trans_b, std::size_t m,
                                                std::size_t n, std::size_t k, std::size_t lda,
                                                std::size_t ldb, bool accumulate,
                                                std::size_t ldc) {
  if (precision != MatmulPrecision::BFloat16 || matmul_precision() != MatmulPrecision::BFloat16 ||
      weight.dtype() != DType::Float32 || !weight.requires_grad() || !weight.is_leaf() ||
      !blas::bf16_supported())
    return nullptr;
  const float* data = weight.value<float>().data();
  const auto product = std::make_tuple(trans_a, trans_b, m, n, k, lda, ldb, accumulate, ldc);
  std::list<Entry>& list = entries();
  for (auto it = list.begin(); it != list.end(); ++it) {
    if (it->impl != &weight.impl() || it->product != product) continue;
    if (!it->owner.expired() && it->version == weight.version() && it->data == data) {
      list.splice(list.begin(), list, it);
      return it->prepared;
    }
    list.erase(it);  // written since, or another tensor: the old conversion is of no use
    break;
  }
  auto fresh = blas::prepare_b<float>(MatmulPrecision::BFloat16, trans_a, trans_b, as_int(m),
                                      as_int(n), as_int(k), as_int(lda), data, as_int(ldb),
                                      accumulate ? 1.0f : 0.0f, as_int(ldc));
  if (!fresh) return nullptr;
  list.push_front({&weight.impl(), weight.impl_ptr(), weight.version(), data, product, fresh});
  if (list.size() > kMaxEntries) list.pop_back();
  return fresh;
}

void clear() { entries().clear(); }

std::size_t size() { return entries().size(); }

}  // namespace tg::parameter_cache
