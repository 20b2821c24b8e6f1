// The examples' data-parallel job: the processes of an `mpirun -np N` run, or a job of one.
//
// Every rank holds the whole model and trains on its share of each global batch (N x --batch
// examples); gradients are averaged across ranks after backward, so the parameters stay
// identical. Only rank 0 prints and writes files. Built with MPI when tapegrad::distributed
// exists; a program started without mpirun (or built without MPI) is a job of one, unchanged.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <tapegrad/nn/module.hpp>

namespace tg::examples {

class Job {
 public:
  // The job this process belongs to; joins the MPI job on first use when started by mpirun.
  static Job& current();
  ~Job();

  int rank() const { return rank_; }
  int size() const { return size_; }
  bool is_root() const { return rank_ == 0; }

  // This rank's part [first, last) of a global batch of n items: contiguous, the parts' sizes
  // differing by at most one (a part may be empty when n < size()).
  std::pair<std::size_t, std::size_t> share(std::size_t n) const;
  // This rank's part of a global batch as every size()-th item from rank(): for a batch sorted by
  // length, every rank gets the same mix of lengths, so none waits for a rank padded longer.
  std::vector<std::size_t> strided_share(const std::vector<std::size_t>& global) const;
  // Element-wise sums across ranks, every rank getting the result (a job of one: unchanged).
  void sum(std::vector<double>& values) const;
  double max(double value) const;
  // The rows of an [n, width] matrix that the ranks hold as their share(n) parts (`part`: this
  // rank's rows), put together in rank order on every rank, bit for bit.
  std::vector<float> all_gather_rows(const std::vector<float>& part, std::size_t n,
                                     std::size_t width) const;

  // Gives every rank rank 0's weights and prepares gradient averaging for `model`'s parameters.
  // For measurements, TAPEGRAD_DP_BUCKET_BYTES sets the bucket size (default 25 MB: one bucket
  // for these examples) and TAPEGRAD_DP_OVERLAP=0 waits for the end of backward to communicate.
  void attach(const nn::Module& model);
  // After backward (and before clipping and the optimizer step): every parameter's gradient
  // becomes the mean over ranks. A rank with an empty share calls it too, without backward.
  void average_gradients();
  // Seconds spent waiting for gradient communication so far.
  double communication_seconds() const;
  // In a job of several ranks, prints on stdout the share of `train_seconds` spent waiting for
  // gradient communication (rank 0's figure).
  void print_communication_share(double train_seconds) const;

  // Ends every rank of the job with `code` after printing `line` (one line, with the rank).
  [[noreturn]] void abort(const std::string& line, int code) const;

 private:
  Job();
  struct Parallel;
  int rank_ = 0, size_ = 1;
  std::unique_ptr<Parallel> parallel_;
};

// The factor a rank's mean loss is multiplied by so that averaging gradients over ranks gives the
// gradient of the global batch's mean: size x (this rank's weight) / (global weight), the weights
// being example counts or sums of class weights.
double share_loss_scale(const Job& job, double local_weight, double global_weight);

}  // namespace tg::examples
