// The processes of a data-parallel training run, as the training utilities see them.
#pragma once

#include <cstddef>
#include <string>
#include <utility>
#include <vector>

namespace tg::nn {
class Module;
}  // namespace tg::nn

namespace tg::train {

// Every process (rank) of a data-parallel run holds the whole model and trains on its share of
// each global batch; gradients are averaged across ranks after backward, so the parameters stay
// identical; rank 0 alone prints and writes the run's files.
//
// This class by itself is a run of one process: rank 0 of 1, collectives return their input,
// nothing to attach. An implementation over MPI (the examples' Job, under mpirun) overrides
// rank, size, sum, attach, average_gradients, communication_seconds and abort; max,
// broadcast_from_root, all_gather_rows and print_communication_share are built on those and
// rarely need overriding.
class Parallel {
 public:
  Parallel() = default;
  virtual ~Parallel() = default;
  Parallel(const Parallel&) = delete;
  Parallel& operator=(const Parallel&) = delete;

  virtual int rank() const { return 0; }
  virtual int size() const { return 1; }
  bool is_root() const { return rank() == 0; }

  // This rank's part [first, last) of a global batch of n items: contiguous, the parts' sizes
  // differing by at most one (a part may be empty when n < size()).
  std::pair<std::size_t, std::size_t> share(std::size_t n) const;
  // This rank's part of a global batch as every size()-th item from rank(): for a batch sorted by
  // length, every rank gets the same mix of lengths, so none waits for a rank padded longer.
  std::vector<std::size_t> strided_share(const std::vector<std::size_t>& global) const;

  // Element-wise sums across ranks, every rank getting the result (one process: unchanged).
  virtual void sum(std::vector<double>& values) const;
  virtual double max(double value) const;
  // Rank 0's `values` on every rank (the others' are ignored).
  std::vector<std::string> broadcast_from_root(const std::vector<std::string>& values) const;
  // The rows of an [n, width] matrix that the ranks hold as their share(n) parts (`part`: this
  // rank's rows), put together in rank order on every rank, bit for bit.
  virtual std::vector<float> all_gather_rows(const std::vector<float>& part, std::size_t n,
                                             std::size_t width) const;

  // Gives every rank rank 0's weights and prepares gradient averaging for `model`'s parameters.
  virtual void attach(const nn::Module& model);
  // After backward (and before clipping and the optimizer step): every parameter's gradient
  // becomes the mean over ranks. A rank with an empty share calls it too, without backward.
  virtual void average_gradients();
  // Seconds spent waiting for gradient communication so far.
  virtual double communication_seconds() const;
  // With several ranks, prints on stdout the share of `train_seconds` spent waiting for gradient
  // communication (rank 0's figure).
  virtual void print_communication_share(double train_seconds) const;

  // Ends every rank with `code` after printing `line` (one line) on stderr.
  [[noreturn]] virtual void abort(const std::string& line, int code) const;
};

// The processes this program trains with, process-wide, as torch.distributed's default process
// group: the training utilities consult it (rank 0 alone writes run files; a stop signal received
// by any rank stops them all at the same batch). A single process unless set_parallel installed
// another.
Parallel& parallel();
// Installs `group` as parallel() (not owned: it must outlive its use); nullptr returns to a
// single process. Set it once at start-up, before training: the utilities do not expect the
// group to change under them.
void set_parallel(Parallel* group);

}  // namespace tg::train
