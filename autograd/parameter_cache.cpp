// bf16 conversions of parameters kept per thread, least recently used dropped first.
#include "autograd/parameter_cache.hpp"

#include <list>
#include <tuple>

namespace tg::parameter_cache {

namespace {

// Enough for every weight of the models here, each in its forward and its backward product.
constexpr std::size_t kMaxEntries = 256;

struct Entry {
  std::weak_ptr<TensorImpl> owner;
  std::uint64_t version = 0;
  const float* data = nullptr;
  std::tuple<bool, bool, int, int, int, int, int, bool, int> product;
  std::shared_ptr<const blas::PreparedB> prepared;
};

std::list<Entry>& entries() {
  thread_local std::list<Entry> list;
  return list;
}

}  // namespace

std::shared_ptr<const blas::PreparedB> prepared(MatmulPrecision precision, const Tensor& weight,
                                                bool trans_a, bool trans_b, int m, int n, int k,
                                                int lda, int ldb, float beta, int ldc) {
  if (precision != MatmulPrecision::BFloat16 || matmul_precision() != MatmulPrecision::BFloat16 ||
      weight.dtype() != DType::Float32 ||
      !weight.requires_grad() || !weight.is_leaf() || !blas::bf16_supported())
    return nullptr;
  const float* data = weight.value<float>().data();
  const auto product = std::make_tuple(trans_a, trans_b, m, n, k, lda, ldb, beta != 0.0f, ldc);
  std::list<Entry>& list = entries();
  for (auto it = list.begin(); it != list.end(); ++it) {
    if (it->owner.lock() != weight.impl_ptr() || it->product != product) continue;
    if (it->version == weight.version() && it->data == data) {
      list.splice(list.begin(), list, it);
      return it->prepared;
    }
    list.erase(it);  // the weight was written since: its old conversion is of no use
    break;
  }
  auto fresh = blas::prepare_b<float>(MatmulPrecision::BFloat16, trans_a, trans_b, m, n, k, lda,
                                      data, ldb, beta, ldc);
  if (!fresh) return nullptr;
  list.push_front({weight.impl_ptr(), weight.version(), data, product, fresh});
  if (list.size() > kMaxEntries) list.pop_back();
  return fresh;
}

void clear() { entries().clear(); }

std::size_t size() { return entries().size(); }

}  // namespace tg::parameter_cache
