// libFuzzer harness for the checkpoint loader (nn::load_npz: the zip container and the .npy
// entries). Any input must end in an Archive or a tg::Error: a crash, a sanitizer report, another
// exception or a huge allocation is a finding. Built with clang -fsanitize=fuzzer by
// scripts/fuzz_npz.sh; replayed over the committed corpus by CTest (replay_main.cpp).
#include <unistd.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>

#include "tapegrad/autograd/error.hpp"
#include "tapegrad/nn/npz.hpp"

namespace {

// load_npz reads a path (libzip opens the file itself), so each input goes through one file per
// process, on tmpfs when there is one.
const std::string& input_path() {
  static const std::string path = [] {
    const char* dir = ::access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    return std::string(dir) + "/tapegrad_fuzz_npz_" + std::to_string(::getpid()) + ".npz";
  }();
  return path;
}

// Reads every value, so that an array whose buffer disagrees with its shape is caught by the
// sanitizers here rather than later in a model.
double touch(const tg::nn::Archive& archive) {
  double sum = 0;
  for (const auto& [key, tensor] : archive.tensors) {
    if (tensor.dtype() == tg::DType::Float64) {
      const auto& v = tensor.value<double>();
      for (std::size_t i = 0; i < v.size(); ++i) sum += v.data()[i];
    } else {
      const auto& v = tensor.value<float>();
      for (std::size_t i = 0; i < v.size(); ++i) sum += v.data()[i];
    }
  }
  for (const auto& [key, ix] : archive.integers)
    for (std::int64_t i : ix.data) sum += static_cast<double>(i);
  for (const auto& [key, text] : archive.strings) sum += static_cast<double>(text.size());
  return sum;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string& path = input_path();
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) return 0;
  const bool written = std::fwrite(data, 1, size, f) == size;
  std::fclose(f);
  if (!written) return 0;
  try {
    volatile double sink = touch(tg::nn::load_npz(path));
    (void)sink;
  } catch (const tg::Error&) {
    // Refused with a message: what a bad file should get.
  }
  std::remove(path.c_str());
  return 0;
}
