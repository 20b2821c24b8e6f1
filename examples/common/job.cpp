// The examples' data-parallel job over tg::distributed, or a job of one without MPI.
#include "common/job.hpp"

#include <fmt/format.h>

#include <cstdio>
#include <cstdlib>

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

struct Job::Mpi {
#ifdef TAPEGRAD_EXAMPLES_MPI
  std::unique_ptr<distributed::DataParallel> data_parallel;
#endif
};

Job::Job() : mpi_(std::make_unique<Mpi>()) {
  if (!started_by_mpirun()) return;
#ifdef TAPEGRAD_EXAMPLES_MPI
  const distributed::World& world = distributed::init();
  rank_ = world.rank;
  size_ = world.size;
  tg::train::set_parallel(this);
  // Only rank 0 talks: the others' progress lines would interleave with its own.
  if (rank_ != 0 && !std::freopen("/dev/null", "w", stdout))
    std::fprintf(stderr, "rank %d: cannot silence stdout\n", rank_);
#else
  if (std::getenv("OMPI_COMM_WORLD_SIZE") && std::atoi(std::getenv("OMPI_COMM_WORLD_SIZE")) > 1)
    throw Error("started by mpirun, but this build has no MPI (install libopenmpi-dev and rebuild)");
#endif
}

Job::~Job() {
  if (&tg::train::parallel() == this) tg::train::set_parallel(nullptr);
}

Job& Job::current() {
  static Job job;
  return job;
}

void Job::sum(std::vector<double>& values) const {
  if (size_ == 1) return;
#ifdef TAPEGRAD_EXAMPLES_MPI
  distributed::all_reduce_sum(values);
#else
  (void)values;
#endif
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
  mpi_->data_parallel = std::make_unique<distributed::DataParallel>(model, options);
#else
  (void)model;
#endif
}

void Job::average_gradients() {
  if (size_ == 1) return;
#ifdef TAPEGRAD_EXAMPLES_MPI
  if (!mpi_->data_parallel) throw Error("Job::average_gradients before attach");
  mpi_->data_parallel->synchronize();
#endif
}

double Job::communication_seconds() const {
#ifdef TAPEGRAD_EXAMPLES_MPI
  if (mpi_->data_parallel) return mpi_->data_parallel->wait_seconds();
#endif
  return 0;
}

void Job::abort(const std::string& line, int code) const {
#ifdef TAPEGRAD_EXAMPLES_MPI
  if (size_ > 1) distributed::abort_job(line, code);
#endif
  tg::train::Parallel::abort(line, code);
}

double share_loss_scale(const Job& job, double local_weight, double global_weight) {
  return global_weight > 0 ? job.size() * local_weight / global_weight : 0.0;
}

}  // namespace tg::examples
