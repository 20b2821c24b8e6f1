// The examples' data-parallel job: the processes of an `mpirun -np N` run, or a job of one.
//
// Every rank holds the whole model and trains on its share of each global batch (N x --batch
// examples); gradients are averaged across ranks after backward, so the parameters stay
// identical. Only rank 0 prints and writes files. Built with MPI when tapegrad::distributed
// exists; a program started without mpirun (or built without MPI) is a job of one, unchanged.
// A job started by mpirun installs itself as tg::train::parallel(), so that the library's
// training utilities write and stop as one job too.
#pragma once

#include <memory>
#include <string>

#include <tapegrad/nn/module.hpp>
#include <tapegrad/train/parallel.hpp>

namespace tg::examples {

class Job : public tg::train::Parallel {
 public:
  // The job this process belongs to; joins the MPI job on first use when started by mpirun.
  static Job& current();
  ~Job() override;

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  void sum(std::vector<double>& values) const override;

  // For measurements, TAPEGRAD_DP_BUCKET_BYTES sets the bucket size (default 25 MB: one bucket
  // for these examples) and TAPEGRAD_DP_OVERLAP=0 waits for the end of backward to communicate.
  void attach(const nn::Module& model) override;
  void average_gradients() override;
  double communication_seconds() const override;
  [[noreturn]] void abort(const std::string& line, int code) const override;

 private:
  Job();
  struct Mpi;
  int rank_ = 0, size_ = 1;
  std::unique_ptr<Mpi> mpi_;
};

// The factor a rank's mean loss is multiplied by so that averaging gradients over ranks gives the
// gradient of the global batch's mean: size x (this rank's weight) / (global weight), the weights
// being example counts or sums of class weights.
double share_loss_scale(const Job& job, double local_weight, double global_weight);

}  // namespace tg::examples
