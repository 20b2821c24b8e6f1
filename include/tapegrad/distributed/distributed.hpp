// tg::distributed: data-parallel training over MPI: the job's ranks, parameter broadcast, gradient
// averaging in buckets started while backward runs, sharded sampling and reduced metrics.
//
// Every rank holds the whole model and reads its own shard of the data; after each backward the
// gradients are averaged across ranks, so every rank applies the same update and the parameters
// stay identical. Built only when MPI is found (target tapegrad::distributed); on this project's
// machines MPI must stay on the machine (shared memory and loopback, see tests/CMakeLists.txt).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "tapegrad/nn/module.hpp"

namespace tg::distributed {

struct World {
  int rank = 0;
  int size = 1;
  int local_rank = 0;  // rank among the processes on this machine
  int local_size = 1;
};

// Initialises MPI once (later calls return the same World; MPI is finalised at exit). Under
// mpirun it joins the job; a program started alone is a world of one.
const World& init();
bool is_root();  // rank 0: the one that prints and writes files

// Sets every rank's parameters to root's (named_parameters() order, which all ranks share).
void broadcast_parameters(const nn::Module& module, int root = 0);

// Element-wise sums across ranks, every rank getting the result (losses, counts, accuracy).
void all_reduce_sum(std::vector<double>& values);
double all_reduce_sum(double value);

// Ends the whole job: prints "rank R: message" on stderr and makes every rank exit with `code`
// (MPI_Abort). For an error on one rank, which would otherwise leave the others waiting forever
// in the next collective.
[[noreturn]] void abort_job(const std::string& message, int code = 2);

struct DataParallelOptions {
  // Gradients travel in flat buffers of about this size, filled in reverse parameter order (the
  // last layers' gradients are complete first). One bucket per allreduce call: fewer, larger
  // calls cost less latency; smaller ones can start earlier during backward.
  std::size_t bucket_bytes = 25u << 20;
  // Start a bucket's allreduce from the gradient hooks as soon as all its gradients are complete,
  // while backward goes on; false: everything in synchronize().
  bool overlap = true;
};

// Averages the gradients of a module's parameters across ranks. Usage per step:
//   optimizer.zero_grad(); loss.backward(); data_parallel.synchronize(); optimizer.step();
// Every rank must run the same number of steps. A parameter that got no gradient on a rank counts
// as zero there (and gets the average of the others), so all ranks agree on every bucket.
class DataParallel {
 public:
  explicit DataParallel(const nn::Module& module, DataParallelOptions options = {});
  ~DataParallel();
  DataParallel(const DataParallel&) = delete;
  DataParallel& operator=(const DataParallel&) = delete;

  // Completes every bucket's allreduce and leaves each parameter's .grad the mean over ranks.
  void synchronize();

  std::size_t bucket_count() const;
  // Seconds synchronize() waited for communication, and buckets started during backward, summed
  // over the steps so far: what overlap saved is visible, not assumed.
  double wait_seconds() const;
  std::size_t buckets_started_early() const;

 private:
  struct State;
  std::shared_ptr<State> state_;
};

// Rank `w.rank`'s positions of an epoch over `count` examples, as PyTorch's DistributedSampler:
// one permutation seeded by (seed, epoch), the same on every rank; rank r takes every
// w.size-th position from r. When count is not a multiple of the world size, drop_last drops the
// tail; otherwise the order is padded from its start so every rank gets ceil(count / size).
std::vector<std::size_t> shard_indices(std::size_t count, std::uint64_t seed, std::uint64_t epoch,
                                       const World& w, bool shuffle = true,
                                       bool drop_last = false);

}  // namespace tg::distributed
