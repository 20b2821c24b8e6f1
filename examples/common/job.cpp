// The examples' data-parallel job over tg::distributed, or a job of one without MPI.
#include "common/job.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include <tapegrad/autograd/error.hpp>
#ifdef TAPEGRAD_EXAMPLES_MPI
#include <tapegrad/distributed/distributed.hpp>
#endif

namespace tg::examples {

namespace {

// Open MPI's mpirun sets OMPI_COMM_WORLD_SIZE, PMIx launchers PMIX_RANK, others PMI_SIZE. A program
// started alone does not initialise MPI at all (no singleton start-up, no network probing).
bool started_by_mpirun() {
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_SIZE"})
    if (std::getenv(name)) return true;
  return false;
}

}  // namespace

struct Job::Parallel {
#ifdef TAPEGRAD_EXAMPLES_MPI
  std::unique_ptr<distributed::DataParallel> data_parallel;
#endif
};

Job::Job() : parallel_(std::make_unique<Parallel>()) {
  if (!started_by_mpirun()) return;
#ifdef TAPEGRAD_EXAMPLES_MPI
  const distributed::World& world = distributed::init();
  rank_ = world.rank;
  size_ = world.size;
  // Only rank 0 talks: the others' progress lines would interleave with its own.
  if (rank_ != 0 && !std::freopen("/dev/null", "w", stdout))
    std::fprintf(stderr, "rank %d: cannot silence stdout\n", rank_);
#else
  if (std::getenv("OMPI_COMM_WORLD_SIZE") && std::atoi(std::getenv("OMPI_COMM_WORLD_SIZE")) > 1)
    throw Error("started by mpirun, but this build has no MPI (install libopenmpi-dev and rebuild)");
#endif
}

Job::~Job() = default;

Job& Job::current() {
  static Job job;
  return job;
}

std::pair<std::size_t, std::size_t> Job::share(std::size_t n) const {
  const std::size_t ranks = static_cast<std::size_t>(size_), r = static_cast<std::size_t>(rank_);
  const std::size_t base = n / ranks, extra = n % ranks;
  const std::size_t first = r * base + std::min(r, extra);
  return {first, first + base + (r < extra ? 1 : 0)};
}

std::vector<std::size_t> Job::strided_share(const std::vector<std::size_t>& global) const {
  std::vector<std::size_t> mine;
  for (std::size_t i = static_cast<std::size_t>(rank_); i < global.size();
       i += static_cast<std::size_t>(size_))
    mine.push_back(global[i]);
  return mine;
}

void Job::sum(std::vector<double>& values) const {
  if (size_ == 1) return;
#ifdef TAPEGRAD_EXAMPLES_MPI
  distributed::all_reduce_sum(values);
#endif
}

double Job::max(double value) const {
  if (size_ == 1) return value;
  // No max collective in tg::distributed: the values of every rank, summed into their slots.
  std::vector<double> slots(static_cast<std::size_t>(size_), 0.0);
  slots[static_cast<std::size_t>(rank_)] = value;
  sum(slots);
  double m = slots[0];
  for (double v : slots) m = std::max(m, v);
  return m;
}

std::vector<float> Job::all_gather_rows(const std::vector<float>& part, std::size_t n,
                                        std::size_t width) const {
  const auto [first, last] = share(n);
  if (part.size() != (last - first) * width)
    throw Error(fmt::format("Job::all_gather_rows: rank {} holds {} values, its {} rows of {} "
                            "are {}",
                            rank_, part.size(), last - first, width, (last - first) * width));
  if (size_ == 1) return part;
  // No gather in tg::distributed: every rank writes its rows into zeroed slots, summed. As bit
  // patterns (integers below 2^32, exact in a double), since adding zeros to the values would
  // turn a -0.0 into +0.0.
  std::vector<double> slots(n * width, 0.0);
  for (std::size_t i = 0; i < part.size(); ++i) {
    std::uint32_t bits;
    std::memcpy(&bits, &part[i], sizeof bits);
    slots[first * width + i] = bits;
  }
  sum(slots);
  std::vector<float> whole(n * width);
  for (std::size_t i = 0; i < whole.size(); ++i) {
    const auto bits = static_cast<std::uint32_t>(slots[i]);
    std::memcpy(&whole[i], &bits, sizeof bits);
  }
  return whole;
}

void Job::attach(const nn::Module& model) {
  if (size_ == 1) return;
#ifdef TAPEGRAD_EXAMPLES_MPI
  distributed::broadcast_parameters(model);
  distributed::DataParallelOptions options;
  if (const char* bytes = std::getenv("TAPEGRAD_DP_BUCKET_BYTES")) {
    char* end = nullptr;
    const unsigned long long value = std::strtoull(bytes, &end, 10);
    if (!*bytes || *end || value == 0)
      throw Error(fmt::format("TAPEGRAD_DP_BUCKET_BYTES is '{}', not a positive byte count", bytes));
    options.bucket_bytes = static_cast<std::size_t>(value);
  }
  if (const char* overlap = std::getenv("TAPEGRAD_DP_OVERLAP"))
    options.overlap = std::string(overlap) != "0";
  parallel_->data_parallel = std::make_unique<distributed::DataParallel>(model, options);
#else
  (void)model;
#endif
}

void Job::average_gradients() {
  if (size_ == 1) return;
#ifdef TAPEGRAD_EXAMPLES_MPI
  if (!parallel_->data_parallel) throw Error("Job::average_gradients before attach");
  parallel_->data_parallel->synchronize();
#endif
}

double Job::communication_seconds() const {
#ifdef TAPEGRAD_EXAMPLES_MPI
  if (parallel_->data_parallel) return parallel_->data_parallel->wait_seconds();
#endif
  return 0;
}

void Job::print_communication_share(double train_seconds) const {
  if (size_ == 1) return;
  const double waited = communication_seconds();
  std::printf("data-parallel: %d processes; gradient averaging waited %.2f s of %.1f s of "
              "training (%.1f%%)\n",
              size_, waited, train_seconds, 100.0 * waited / std::max(train_seconds, 1e-9));
}

void Job::abort(const std::string& line, int code) const {
#ifdef TAPEGRAD_EXAMPLES_MPI
  if (size_ > 1) distributed::abort_job(line, code);
#endif
  std::fprintf(stderr, "%s\n", line.c_str());
  std::fflush(stderr);
  std::_Exit(code);
}

double share_loss_scale(const Job& job, double local_weight, double global_weight) {
  return global_weight > 0 ? job.size() * local_weight / global_weight : 0.0;
}

}  // namespace tg::examples
