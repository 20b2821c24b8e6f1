// tg::distributed under mpirun (CTest runs this program with 2 and with 3 processes): the world,
// parameter broadcast, sharding, reduced metrics, and data-parallel training equal to one process
// on the whole batch, with bit-identical parameters on every rank after every step.
#include <catch2/catch.hpp>
#include <mpi.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <set>

#include "tapegrad/autograd/ops.hpp"
#include "tapegrad/distributed/distributed.hpp"
#include "tapegrad/nn/nn.hpp"
#include "tapegrad/optim/optim.hpp"

using namespace tg;
namespace dist = tg::distributed;

namespace {

// FNV-1a over the bytes of every parameter: equal hashes on all ranks = bit-identical weights.
std::uint64_t parameter_hash(const nn::Module& m) {
  std::uint64_t h = 1469598103934665603ull;
  for (const Tensor& p : m.parameters()) {
    const auto& v = p.value<double>();
    const auto* bytes = reinterpret_cast<const unsigned char*>(v.data());
    for (std::size_t i = 0; i < v.size() * sizeof(double); ++i) h = (h ^ bytes[i]) * 1099511628211ull;
  }
  return h;
}

bool same_on_every_rank(std::uint64_t value) {
  std::uint64_t lo = value, hi = value;
  MPI_Allreduce(MPI_IN_PLACE, &lo, 1, MPI_UINT64_T, MPI_MIN, MPI_COMM_WORLD);
  MPI_Allreduce(MPI_IN_PLACE, &hi, 1, MPI_UINT64_T, MPI_MAX, MPI_COMM_WORLD);
  return lo == hi;
}

// Embedding -> LSTM -> Linear on token sequences, float64, no dropout.
class TinyModel : public nn::Module {
 public:
  explicit TinyModel(std::uint64_t seed) {
    Generator gen(seed);
    embedding = register_module("embedding", std::make_shared<nn::Embedding>(7, 4, -1, gen));
    nn::RecurrentOptions o;
    o.input_size(4);
    o.hidden_size(6);
    lstm = register_module("lstm", std::make_shared<nn::LSTM>(o, gen));
    fc = register_module("fc", std::make_shared<nn::Linear>(6, 3, true, gen));
    to(DType::Float64);
  }
  std::string type_name() const override { return "TinyModel"; }
  // ids [T, B] -> mean cross-entropy of the last step's logits against targets [B]
  Tensor loss(const Indices& ids, const Indices& targets) {
    const Tensor h = lstm->forward(embedding->forward(ids), {}).last;
    return cross_entropy(fc->forward(h), targets);
  }
  std::shared_ptr<nn::Embedding> embedding;
  std::shared_ptr<nn::LSTM> lstm;
  std::shared_ptr<nn::Linear> fc;
};

// Step k's global batch: `global` sequences of length 5; rows [first, first + count).
std::pair<Indices, Indices> batch(int step, std::size_t global, std::size_t first,
                                  std::size_t count) {
  Generator gen(1000 + step);
  std::vector<std::int64_t> all_ids(5 * global), all_targets(global);
  for (auto& v : all_ids) v = static_cast<std::int64_t>(gen.below(7));
  for (auto& v : all_targets) v = static_cast<std::int64_t>(gen.below(3));
  std::vector<std::int64_t> ids, targets;
  for (std::size_t t = 0; t < 5; ++t)
    for (std::size_t b = first; b < first + count; ++b) ids.push_back(all_ids[t * global + b]);
  for (std::size_t b = first; b < first + count; ++b) targets.push_back(all_targets[b]);
  return {Indices(ids, {5, count}), Indices(targets)};
}

double max_rel_difference(const nn::Module& a, const nn::Module& b) {
  double worst = 0;
  const auto pa = a.parameters(), pb = b.parameters();
  for (std::size_t i = 0; i < pa.size(); ++i) {
    const auto& va = pa[i].value<double>();
    const auto& vb = pb[i].value<double>();
    for (std::size_t j = 0; j < va.size(); ++j) {
      const double rel = std::abs(va.data()[j] - vb.data()[j]) /
                         std::max(1e-3, std::abs(vb.data()[j]));
      if (!(rel <= worst)) worst = rel;  // a NaN becomes the worst error and stays
    }
  }
  return worst;
}

}  // namespace

TEST_CASE("the world is the mpirun job", "[distributed]") {
  const dist::World& w = dist::init();
  const char* expected = std::getenv("OMPI_COMM_WORLD_SIZE");
  REQUIRE(expected != nullptr);  // this program runs under mpirun
  CHECK(w.size == std::atoi(expected));
  CHECK(w.size >= 2);
  CHECK(dist::all_reduce_sum(static_cast<double>(w.rank)) == w.size * (w.size - 1) / 2.0);
  CHECK(w.local_size == w.size);  // one machine
  CHECK(dist::is_root() == (w.rank == 0));
}

TEST_CASE("broadcast_parameters gives every rank root's weights", "[distributed]") {
  const dist::World& w = dist::init();
  TinyModel model(100 + w.rank);  // different on every rank
  CHECK_FALSE(same_on_every_rank(parameter_hash(model)));
  dist::broadcast_parameters(model);
  CHECK(same_on_every_rank(parameter_hash(model)));
  CHECK(parameter_hash(model) == parameter_hash(TinyModel(100)));
}

TEST_CASE("shards are disjoint, cover the epoch, and change with the epoch", "[distributed]") {
  const dist::World& w = dist::init();
  for (std::size_t count : {12, 13, 2}) {
    for (bool drop_last : {false, true}) {
      const auto mine = dist::shard_indices(count, 7, 3, w, true, drop_last);
      const std::size_t n = static_cast<std::size_t>(w.size);
      CHECK(mine.size() == (drop_last ? count / n : (count + n - 1) / n));
      // Count how often each example is taken over all ranks.
      std::vector<double> taken(count, 0.0);
      for (std::size_t i : mine) taken.at(i) += 1;
      dist::all_reduce_sum(taken);
      double total = 0;
      for (double t : taken) total += t;
      CHECK(total == static_cast<double>(mine.size() * n));
      if (!drop_last)
        for (double t : taken) CHECK(t >= 1);  // padding repeats, nothing is lost
      else
        for (double t : taken) CHECK(t <= 1);  // dropping never repeats
    }
  }
  CHECK(dist::shard_indices(100, 7, 0, w) != dist::shard_indices(100, 7, 1, w));
  CHECK(dist::shard_indices(100, 7, 0, w) == dist::shard_indices(100, 7, 0, w));
  CHECK_THROWS_WITH(dist::shard_indices(10, 0, 0, dist::World{3, 2, 0, 1}),
                    Catch::Contains("rank 3 of a world of 2"));
}

TEST_CASE("N ranks on N shards train as one process on the whole batch", "[distributed]") {
  const dist::World& w = dist::init();
  const std::size_t per_rank = 4, global = per_rank * static_cast<std::size_t>(w.size);
  for (bool overlap : {true, false}) {
    INFO("overlap " << overlap);
    TinyModel reference(5), model(6 + w.rank);
    dist::broadcast_parameters(model);  // rank 0's seed-6 weights everywhere...
    TinyModel seed6(6);
    for (std::size_t i = 0; i < reference.parameters().size(); ++i)  // ...and in the reference
      reference.parameters()[i].mutable_value<double>() = seed6.parameters()[i].value<double>();
    dist::DataParallelOptions options;
    options.bucket_bytes = 512;  // several buckets, so some start during backward
    options.overlap = overlap;
    dist::DataParallel data_parallel(model, options);
    CHECK(data_parallel.bucket_count() > 2);
    optim::Adam opt(model.named_parameters(), optim::AdamOptions{0.01});
    optim::Adam ref_opt(reference.named_parameters(), optim::AdamOptions{0.01});
    for (int step = 0; step < 5; ++step) {
      const auto [ids, targets] = batch(step, global, per_rank * w.rank, per_rank);
      opt.zero_grad();
      model.loss(ids, targets).backward();
      data_parallel.synchronize();
      opt.step();
      const auto [all_ids, all_targets] = batch(step, global, 0, global);
      ref_opt.zero_grad();
      reference.loss(all_ids, all_targets).backward();
      ref_opt.step();
      CHECK(same_on_every_rank(parameter_hash(model)));
    }
    const double diff = max_rel_difference(model, reference);
    INFO("max relative difference to one process on the whole batch: " << diff);
    CHECK(diff <= 1e-5);
    if (overlap)
      CHECK(data_parallel.buckets_started_early() > 0);  // started from hooks during backward
    else
      CHECK(data_parallel.buckets_started_early() == 0);
  }
}

TEST_CASE("a parameter without a gradient on one rank gets the others' average", "[distributed]") {
  const dist::World& w = dist::init();
  struct TwoParameters : nn::Module {
    TwoParameters() {
      a = register_parameter("a", Tensor::from_vector({1, 2}, {2}, DType::Float64, true));
      b = register_parameter("b", Tensor::from_vector({3}, {1}, DType::Float64, true));
    }
    std::string type_name() const override { return "TwoParameters"; }
    Tensor a, b;
  } holder;
  const Tensor& a = holder.a;
  const Tensor& b = holder.b;
  dist::DataParallel data_parallel(holder);
  // b is used on rank 0 only: the other ranks' backward never reaches it.
  const Tensor loss = w.rank == 0 ? sum(a * 2.0) + sum(b * 6.0) : sum(a * 4.0);
  loss.backward();
  data_parallel.synchronize();  // must not hang, and every rank agrees
  const double n = w.size;
  CHECK(a.grad<double>()(0) == Approx((2.0 + 4.0 * (n - 1)) / n));
  CHECK(b.grad<double>()(0) == Approx(6.0 / n));
}
