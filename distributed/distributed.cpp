// tg::distributed over MPI: initialisation, broadcast, reductions, job abort, bucketed gradient
// averaging driven by the parameters' gradient hooks, and the sharded sampler.
#include "tapegrad/distributed/distributed.hpp"

#include <fmt/format.h>
#include <mpi.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <numeric>

#include "tapegrad/autograd/function.hpp"

namespace tg::distributed {

namespace {

World g_world;
bool g_initialised = false;

void check(int code, const char* what) {
  if (code == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  MPI_Error_string(code, text, &length);
  throw Error(fmt::format("distributed: {} failed: {}", what, std::string(text, length)));
}

void finalize_at_exit() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized) MPI_Finalize();
}

template <class T>
MPI_Datatype mpi_type() {
  return std::is_same_v<T, float> ? MPI_FLOAT : MPI_DOUBLE;
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

const World& init() {
  if (g_initialised) return g_world;
  int already = 0;
  MPI_Initialized(&already);
  if (!already) {
    // Every MPI call comes from the thread that runs backward (the main one).
    int provided = 0;
    check(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided), "MPI_Init_thread");
    std::atexit(finalize_at_exit);
  }
  // Errors come back as codes (and so as tg::Error) instead of ending the job silently.
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  MPI_Comm_rank(MPI_COMM_WORLD, &g_world.rank);
  MPI_Comm_size(MPI_COMM_WORLD, &g_world.size);
  MPI_Comm local;
  check(MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, g_world.rank, MPI_INFO_NULL,
                            &local),
        "MPI_Comm_split_type");
  MPI_Comm_rank(local, &g_world.local_rank);
  MPI_Comm_size(local, &g_world.local_size);
  MPI_Comm_free(&local);
  g_initialised = true;
  return g_world;
}

bool is_root() { return init().rank == 0; }

void broadcast_parameters(const nn::Module& module, int root) {
  init();
  for (const auto& [name, p] : module.named_parameters()) {
    const Tensor& param = p;
    const std::string& what = name;  // clang 14 cannot capture a structured binding
    dispatch(param.dtype(), [&](auto tag) {
      using T = decltype(tag);
      auto& v = param.template mutable_value<T>();
      check(MPI_Bcast(v.data(), static_cast<int>(v.size()), mpi_type<T>(), root, MPI_COMM_WORLD),
            fmt::format("MPI_Bcast of {}", what).c_str());
    });
  }
}

void all_reduce_sum(std::vector<double>& values) {
  init();
  check(MPI_Allreduce(MPI_IN_PLACE, values.data(), static_cast<int>(values.size()), MPI_DOUBLE,
                      MPI_SUM, MPI_COMM_WORLD),
        "MPI_Allreduce");
}

double all_reduce_sum(double value) {
  std::vector<double> v{value};
  all_reduce_sum(v);
  return v[0];
}

void abort_job(const std::string& message, int code) {
  std::fprintf(stderr, "rank %d: %s\n", g_world.rank, message.c_str());
  std::fflush(stderr);
  int initialised = 0;
  MPI_Initialized(&initialised);
  if (initialised) MPI_Abort(MPI_COMM_WORLD, code);
  std::_Exit(code);
}

// ---- DataParallel ---------------------------------------------------------------------------

namespace {

// One flat buffer of same-dtype gradients, reduced with one MPI call.
struct Bucket {
  DType dtype = DType::Float32;
  std::vector<std::size_t> params;   // indices into State::params
  std::vector<std::size_t> offsets;  // each one's offset in the buffer
  std::size_t elements = 0;
  std::vector<float> f;
  std::vector<double> d;
  std::size_t pending = 0;  // gradients not yet copied in this step
  MPI_Request request = MPI_REQUEST_NULL;
  bool started = false;

  void* data() { return dtype == DType::Float32 ? static_cast<void*>(f.data()) : d.data(); }
};

}  // namespace

struct DataParallel::State {
  std::vector<Tensor> params;
  std::vector<std::size_t> bucket_of;   // param -> bucket
  std::vector<std::size_t> slot_of;     // param -> position in its bucket
  std::vector<bool> ready;              // param's gradient copied this step
  std::vector<Bucket> buckets;
  std::size_t next_to_start = 0;  // buckets start in index order on every rank (MPI requires it)
  bool overlap = true;
  bool active = true;
  double wait_seconds = 0;
  std::size_t started_early = 0;

  // Copies parameter p's gradient into its bucket: `source` is an array of p's size and dtype
  // (its .grad, or the gradient a hook was handed), or null for zeros.
  void copy_in(std::size_t p, const void* source) {
    Bucket& b = buckets[bucket_of[p]];
    const Tensor& t = params[p];
    const std::size_t offset = b.offsets[slot_of[p]];
    dispatch(t.dtype(), [&](auto tag) {
      using T = decltype(tag);
      T* dst = static_cast<T*>(b.data()) + offset;
      if (source)
        std::copy_n(static_cast<const T*>(source), t.size(), dst);
      else
        std::fill_n(dst, t.size(), T(0));
    });
    ready[p] = true;
    --b.pending;
  }

  void start(Bucket& b) {
    check(MPI_Iallreduce(MPI_IN_PLACE, b.data(), static_cast<int>(b.elements),
                         b.dtype == DType::Float32 ? MPI_FLOAT : MPI_DOUBLE, MPI_SUM,
                         MPI_COMM_WORLD, &b.request),
          "MPI_Iallreduce");
    b.started = true;
  }

  // Starts, in order, every bucket whose gradients are all in; nudges those in flight along
  // (Open MPI progresses non-blocking collectives only inside MPI calls).
  void start_ready(bool early) {
    while (next_to_start < buckets.size() && buckets[next_to_start].pending == 0) {
      start(buckets[next_to_start++]);
      if (early) ++started_early;
    }
    for (std::size_t i = 0; i < next_to_start; ++i) {
      int done = 0;
      if (buckets[i].request != MPI_REQUEST_NULL)
        MPI_Test(&buckets[i].request, &done, MPI_STATUS_IGNORE);
    }
  }

  void on_gradient(std::size_t p, const Tensor& grad) {
    if (!active || !overlap || ready[p]) return;
    copy_in(p, dispatch(grad.dtype(), [&](auto tag) -> const void* {
              return grad.template value<decltype(tag)>().data();
            }));
    start_ready(true);
  }
};

DataParallel::DataParallel(const nn::Module& module, DataParallelOptions options)
    : state_(std::make_shared<State>()) {
  const World& w = init();
  State& s = *state_;
  s.overlap = options.overlap;
  for (const Tensor& p : module.parameters())
    if (p.requires_grad()) s.params.push_back(p);
  const std::size_t n = s.params.size();
  s.bucket_of.resize(n);
  s.slot_of.resize(n);
  s.ready.assign(n, false);
  // Reverse order: backward completes the last layers' gradients first.
  for (std::size_t k = n; k-- > 0;) {
    const Tensor& p = s.params[k];
    const std::size_t bytes = p.size() * (p.dtype() == DType::Float32 ? 4 : 8);
    if (s.buckets.empty() || s.buckets.back().dtype != p.dtype() ||
        (s.buckets.back().elements > 0 &&
         s.buckets.back().elements * (p.dtype() == DType::Float32 ? 4 : 8) + bytes >
             options.bucket_bytes)) {
      s.buckets.emplace_back();
      s.buckets.back().dtype = p.dtype();
    }
    Bucket& b = s.buckets.back();
    s.bucket_of[k] = s.buckets.size() - 1;
    s.slot_of[k] = b.params.size();
    b.params.push_back(k);
    b.offsets.push_back(b.elements);
    b.elements += p.size();
  }
  for (Bucket& b : s.buckets) {
    if (b.dtype == DType::Float32)
      b.f.resize(b.elements);
    else
      b.d.resize(b.elements);
    b.pending = b.params.size();
  }
  // The hooks hold the state, not this object: a DataParallel that goes first leaves them inert.
  std::weak_ptr<State> weak = state_;
  for (std::size_t k = 0; k < n; ++k)
    s.params[k].register_hook([weak, k](Tensor& grad) {
      if (auto st = weak.lock()) st->on_gradient(k, grad);
    });
  (void)w;
}

DataParallel::~DataParallel() {
  state_->active = false;
  for (Bucket& b : state_->buckets)
    if (b.request != MPI_REQUEST_NULL) MPI_Wait(&b.request, MPI_STATUS_IGNORE);
}

void DataParallel::synchronize() {
  State& s = *state_;
  for (std::size_t p = 0; p < s.params.size(); ++p)
    if (!s.ready[p]) {  // no hook ran: overlap off, or no gradient on this rank
      const Tensor& t = s.params[p];
      s.copy_in(p, !t.has_grad() ? nullptr : dispatch(t.dtype(), [&](auto tag) -> const void* {
        return t.template grad<decltype(tag)>().data();
      }));
    }
  s.start_ready(false);
  const auto start = std::chrono::steady_clock::now();
  for (Bucket& b : s.buckets)
    check(MPI_Wait(&b.request, MPI_STATUS_IGNORE), "MPI_Wait of a gradient bucket");
  s.wait_seconds += seconds_since(start);
  const double scale = 1.0 / init().size;
  for (Bucket& b : s.buckets) {
    for (std::size_t i = 0; i < b.params.size(); ++i) {
      Tensor& t = s.params[b.params[i]];
      dispatch(t.dtype(), [&](auto tag) {
        using T = decltype(tag);
        const T* src = static_cast<const T*>(b.data()) + b.offsets[i];
        if (!t.has_grad()) {  // no gradient here, but the others' average is this rank's too
          t.impl().template get<T>().grad = xt::zeros<T>(t.shape());
          t.impl().has_grad = true;
        }
        auto& g = t.template grad<T>();
        for (std::size_t j = 0; j < g.size(); ++j) g.data()[j] = src[j] * static_cast<T>(scale);
      });
    }
    b.started = false;
    b.pending = b.params.size();
  }
  std::fill(s.ready.begin(), s.ready.end(), false);
  s.next_to_start = 0;
}

std::size_t DataParallel::bucket_count() const { return state_->buckets.size(); }
double DataParallel::wait_seconds() const { return state_->wait_seconds; }
std::size_t DataParallel::buckets_started_early() const { return state_->started_early; }

// ---- sampler --------------------------------------------------------------------------------

std::vector<std::size_t> shard_indices(std::size_t count, std::uint64_t seed, std::uint64_t epoch,
                                       const World& w, bool shuffle, bool drop_last) {
  if (w.size < 1 || w.rank < 0 || w.rank >= w.size)
    throw Error(fmt::format("shard_indices: rank {} of a world of {}", w.rank, w.size));
  std::vector<std::size_t> order(count);
  std::iota(order.begin(), order.end(), std::size_t{0});
  if (shuffle) {
    Generator gen(seed ^ (0x9E3779B97F4A7C15ull * (epoch + 1)));
    for (std::size_t i = count; i > 1; --i) std::swap(order[i - 1], order[gen.below(i)]);
  }
  const std::size_t size = static_cast<std::size_t>(w.size);
  const std::size_t per_rank = drop_last ? count / size : (count + size - 1) / size;
  const std::size_t total = per_rank * size;
  for (std::size_t i = 0; order.size() < total && count > 0; ++i) order.push_back(order[i]);
  std::vector<std::size_t> mine;
  mine.reserve(per_rank);
  for (std::size_t i = static_cast<std::size_t>(w.rank); i < total; i += size)
    mine.push_back(order[i]);
  return mine;
}

}  // namespace tg::distributed
