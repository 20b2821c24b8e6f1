// The Trainer under two ranks without MPI: two processes (fork) whose collectives go over a
// socket pair, so that the data-parallel paths run in every build, MPI or not.
#include <catch2/catch.hpp>

#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <vector>

#include "tapegrad/autograd/ops.hpp"
#include "tapegrad/nn/linear.hpp"
#include "tapegrad/optim/optimizers.hpp"
#include "tapegrad/train/parallel.hpp"
#include "tapegrad/train/trainer.hpp"

using namespace tg;

namespace {

// Rank `rank` of 2; sum() exchanges the vectors with the other process over `fd`. A collective
// called with another length than the other rank's is a tg::Error, as MPI would be undefined.
class SocketPair : public train::Parallel {
 public:
  SocketPair(int rank, int fd) : rank_(rank), fd_(fd) {}
  int rank() const override { return rank_; }
  int size() const override { return 2; }
  void sum(std::vector<double>& values) const override {
    const double mine = static_cast<double>(values.size());
    double theirs = 0;
    exchange(&mine, &theirs, sizeof mine);
    if (theirs != mine)
      throw Error("SocketPair::sum: rank " + std::to_string(rank_) + " sums " +
                  std::to_string(values.size()) + " values, the other rank " +
                  std::to_string(static_cast<std::size_t>(theirs)));
    std::vector<double> other(values.size());
    exchange(values.data(), other.data(), values.size() * sizeof(double));
    // The same order of additions on both ranks, so that they hold the same bits.
    for (std::size_t i = 0; i < values.size(); ++i)
      values[i] = rank_ == 0 ? values[i] + other[i] : other[i] + values[i];
  }
  void attach(const nn::Module& model) override { params_ = model.parameters(); }
  void average_gradients() override {
    std::vector<double> flat;
    for (const Tensor& p : params_) {
      if (!p.has_grad()) (tg::sum(p) * 0.0).backward();  // a rank without items adds zeros
      const auto& g = p.grad<float>();
      flat.insert(flat.end(), g.begin(), g.end());
    }
    sum(flat);
    std::size_t at = 0;
    for (const Tensor& p : params_)
      for (float& v : p.grad<float>()) v = static_cast<float>(flat[at++] / 2);
  }

 private:
  void exchange(const void* out, void* in, std::size_t bytes) const {
    // Rank 0 writes first, rank 1 reads first: no deadlock on a full socket buffer.
    if (rank_ == 0) {
      write_all(out, bytes);
      read_all(in, bytes);
    } else {
      read_all(in, bytes);
      write_all(out, bytes);
    }
  }
  void write_all(const void* data, std::size_t bytes) const {
    const char* p = static_cast<const char*>(data);
    while (bytes > 0) {
      const ssize_t n = ::write(fd_, p, bytes);
      if (n <= 0) throw Error("SocketPair: write failed");
      p += n;
      bytes -= static_cast<std::size_t>(n);
    }
  }
  void read_all(void* data, std::size_t bytes) const {
    char* p = static_cast<char*>(data);
    while (bytes > 0) {
      const ssize_t n = ::read(fd_, p, bytes);
      if (n <= 0) throw Error("SocketPair: the other rank is gone");
      p += n;
      bytes -= static_cast<std::size_t>(n);
    }
  }

  int rank_, fd_;
  std::vector<Tensor> params_;
};

// Fits a linear model on 9 points whose first global batch holds one item, so that rank 1's
// first share is empty; returns the last validation point's logs.
train::Logs fit_with_a_small_first_batch() {
  Generator init(3);
  nn::Linear model(nn::LinearOptions(1, 1), init);
  optim::SGD sgd(model.parameters(), optim::SGDOptions{0.1});
  std::vector<double> xs{0, 1, 2, 3, 4, 5, 6, 7, 8};
  const Tensor x = Tensor::from_vector(xs, {9, 1}).to(DType::Float32);
  const Tensor y = x * 2.0 + 1.0;
  train::Trainer trainer(model, sgd,
                         train::TrainerOptions().max_epochs(2).progress_bar(false)
                             .handle_signals(false));
  const auto rows = [](const Tensor& t, const std::vector<std::size_t>& items) {
    return index_select(t, 0, Indices(std::vector<std::int64_t>(items.begin(), items.end())));
  };
  const train::FitResult r = trainer.fit(
      [](std::size_t) { return train::EpochPlan{{0}, {1, 2, 3, 4}, {5, 6, 7, 8}}; },
      [&](const train::Batch& b) {
        const Tensor err = model(rows(x, b.items)) - rows(y, b.items);
        return train::StepOutput{mean(err * err), {{"abs_error", mean(abs(err)).item()}}};
      },
      [&] {
        const Tensor err = model(x) - y;
        return train::Logs{{"val_loss", mean(err * err).item()}};
      });
  return r.history.back();
}

}  // namespace

TEST_CASE("Trainer on two ranks: a rank whose first share is empty sums the same metrics",
          "[train][parallel]") {
  int fds[2];
  REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds) == 0);
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {  // rank 1: exits 0 when its fit ends with rank 0's logs
    ::close(fds[0]);
    int code = 1;
    try {
      SocketPair group(1, fds[1]);
      train::set_parallel(&group);
      const train::Logs logs = fit_with_a_small_first_batch();
      code = logs.count("abs_error") == 1 ? 0 : 3;
    } catch (...) {
      code = 2;
    }
    ::_exit(code);
  }
  ::close(fds[1]);
  SocketPair group(0, fds[0]);
  train::set_parallel(&group);
  train::Logs logs;
  std::string error;
  try {
    logs = fit_with_a_small_first_batch();
  } catch (const std::exception& e) {
    error = e.what();
  }
  train::set_parallel(nullptr);
  ::close(fds[0]);
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);
  INFO(error);
  CHECK(error.empty());
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  // The loss and metric are the means over the global batches' items.
  REQUIRE(logs.count("abs_error") == 1);
  CHECK(std::isfinite(logs.at("abs_error")));
  CHECK(std::isfinite(logs.at("loss")));

  // One process on the same data: the same numbers, as the ranks average their gradients.
  const train::Logs alone = fit_with_a_small_first_batch();
  CHECK(logs.at("val_loss") == Approx(alone.at("val_loss")).epsilon(1e-6));
  CHECK(logs.at("abs_error") == Approx(alone.at("abs_error")).epsilon(1e-6));
}
