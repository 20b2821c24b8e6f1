// Reliability checks of the library and the examples' shared code: NaN refused by clipping and
// checkpoints, run folders locked and cleaned, sizes checked before allocating.
#include <catch2/catch.hpp>

#include <cmath>
#include <filesystem>
#include <limits>

#include "tapegrad/nn/linear.hpp"
#include "tapegrad/nn/npz.hpp"
#include "tapegrad/optim/clip.hpp"
#include "tapegrad/train/checkpoint.hpp"
#include "tapegrad/train/files.hpp"
#include "test_support.hpp"

// Under AddressSanitizer, an impossible allocation fails as in a plain build (std::bad_alloc)
// instead of aborting the program, so the test of that failure runs in sanitizer builds too.
extern "C" const char* __asan_default_options() { return "allocator_may_return_null=1"; }

namespace fs = std::filesystem;
using namespace tg;
using namespace tg::testing;

TEST_CASE("clip_grad_norm refuses a NaN or negative max_norm", "[reliability][optim]") {
  Generator gen(1);
  nn::Linear layer(3, 2, true, gen);
  const double nan = std::numeric_limits<double>::quiet_NaN();
  CHECK_THROWS_AS(optim::clip_grad_norm(layer.named_parameters(), nan), Error);
  CHECK_THROWS_WITH(optim::clip_grad_norm(layer.named_parameters(), -1.0),
                    Catch::Contains("max_norm must be >= 0, got -1"));
  CHECK_NOTHROW(optim::clip_grad_norm(layer.named_parameters(), 1.0));
}

TEST_CASE("a diverged loss stops training, and NaN weights are never saved", "[reliability][examples]") {
  CHECK_NOTHROW(tg::train::check_loss_finite(2.5, 1, 1));
  CHECK_THROWS_WITH(tg::train::check_loss_finite(std::nan(""), 3, 17),
                    Catch::Contains("training diverged") && Catch::Contains("epoch 3, step 17") &&
                        Catch::Contains("last good checkpoint is kept"));
  CHECK_THROWS_AS(tg::train::check_loss_finite(INFINITY, 1, 1), Error);
  // A NaN with its sign bit set (as x86 produces from 0 * inf) reads "nan" too, not "-nan".
  CHECK_THROWS_WITH(tg::train::check_loss_finite(-std::nan(""), 3, 17),
                    Catch::Contains("the loss is nan at epoch 3"));

  TempDir dir;
  Generator gen(1);
  nn::Linear layer(3, 2, true, gen);
  const tg::train::CheckpointMeta meta{"test", {{"k", "v"}}};
  const std::string path = dir.file("model.npz");
  tg::train::save_checkpoint(path, layer, nullptr, nullptr, meta);
  const std::string good = read_text(path);
  layer.named_parameters().at(0).second.mutable_value<float>()(1, 2) = std::nanf("");
  CHECK_THROWS_WITH(tg::train::save_checkpoint(path, layer, nullptr, nullptr, meta),
                    Catch::Contains("not saved: weight holds NaN or infinity"));
  CHECK(read_text(path) == good);
  CHECK(std::distance(fs::directory_iterator(dir.path), fs::directory_iterator()) == 1);
}

TEST_CASE("a run folder is claimed by one run at a time", "[reliability][examples]") {
  TempDir dir;
  const fs::path run = dir.path / "run";
  {
    tg::train::RunFolder first = tg::train::claim_run_dir(run, tg::train::RunDirUse::New);
    REQUIRE(first.lock.held());
    // flock is per open file: a second claim conflicts even from this process.
    CHECK_THROWS_WITH(tg::train::claim_run_dir(run, tg::train::RunDirUse::Overwrite),
                      Catch::Contains("is in use by another run (pid ") &&
                          Catch::Contains("choose another --out"));
    CHECK_THROWS_WITH(tg::train::claim_run_dir(run, tg::train::RunDirUse::Resume),
                      Catch::Contains("in use"));
  }
  // Released with its holder.
  CHECK(tg::train::claim_run_dir(run, tg::train::RunDirUse::New).lock.held());
}

TEST_CASE("temporary files of killed saves are removed when the folder is next used",
          "[reliability][examples]") {
  TempDir dir;
  const fs::path run = dir.path / "run";
  fs::create_directory(run);
  write_text(run / "model.npz", "PK");
  write_text(run / "model.npz.tmp-4242-0", "half a checkpoint");
  write_text(run / ".loss.svg.tmp.4242.3", "half a picture");
  write_text(run / "metrics.csv", "epoch\n");
  CHECK(tg::train::is_temporary_file("model.npz.tmp-1-2"));
  CHECK_FALSE(tg::train::is_temporary_file("model.npz"));
  CHECK_FALSE(tg::train::is_temporary_file("tmp.txt"));
  const tg::train::RunFolder folder = tg::train::claim_run_dir(run, tg::train::RunDirUse::Resume);
  CHECK(folder.stale_removed == 2);
  CHECK_FALSE(fs::exists(run / "model.npz.tmp-4242-0"));
  CHECK_FALSE(fs::exists(run / ".loss.svg.tmp.4242.3"));
  CHECK(read_text(run / "model.npz") == "PK");
  CHECK(read_text(run / "metrics.csv") == "epoch\n");
}

TEST_CASE("shapes whose element count overflows, or cannot be allocated, are tg::Error",
          "[reliability][tensor]") {
  const std::size_t big = std::size_t{1} << 33;
  CHECK_THROWS_WITH(Tensor::zeros({big, big}), Catch::Contains("Tensor::full: shape [") &&
                                                   Catch::Contains("more elements than fit"));
  CHECK_THROWS_WITH(Indices(std::vector<std::int64_t>(4, 0), {big, big, 4}),
                    Catch::Contains("Indices: shape [") && Catch::Contains("more elements"));
  // 2^40 floats (4 TB): no overflow, but no machine here has the memory.
  CHECK_THROWS_WITH(Tensor::zeros({std::size_t{1} << 40}),
                    Catch::Contains("Tensor::full: cannot allocate 4.398e+12 bytes for shape [1099511627776]"));
  // Zero elements are fine, but not with other sizes whose strides overflow.
  CHECK(Tensor::zeros({0, 5}).size() == 0);
  CHECK_THROWS_WITH(Tensor::zeros({0, big, big}), Catch::Contains("more elements than fit"));
  CHECK(Indices(std::vector<std::int64_t>{}, {big, 0}).data.empty());
}

namespace {

// Overwrites a little-endian uint32 at `offset`.
void put_u32(std::string& bytes, std::size_t offset, std::uint32_t v) {
  for (int k = 0; k < 4; ++k) bytes[offset + k] = static_cast<char>((v >> (8 * k)) & 0xFF);
}

}  // namespace

TEST_CASE("a checkpoint entry declaring more bytes than the file holds is refused before "
          "allocating", "[reliability][npz]") {
  TempDir dir;
  nn::Archive archive;
  archive.tensors["w"] = Tensor::from_vector({1, 2, 3}, {3});
  nn::save_npz(dir.file("small.npz"), archive);
  std::string bytes = read_text(dir.path / "small.npz");
  // The entry's uncompressed size, in its local header (offset 22) and in the central directory
  // (offset 24 of the PK\1\2 record), both set to ~4 GB as a hostile file would.
  const std::size_t central = bytes.find("PK\x01\x02");
  REQUIRE(bytes.compare(0, 4, "PK\x03\x04") == 0);
  REQUIRE(central != std::string::npos);
  put_u32(bytes, 22, 0xF0000000u);
  put_u32(bytes, central + 24, 0xF0000000u);
  write_text(dir.path / "hostile.npz", bytes);
  CHECK_THROWS_WITH(nn::load_npz(dir.file("hostile.npz")),
                    Catch::Contains("key 'w'") &&
                        Catch::Contains("declares 4026531840 bytes, more than its"));
  CHECK_NOTHROW(nn::load_npz(dir.file("small.npz")));
}

TEST_CASE("the fuzz seeds are what their names say: valid_* load, the others are refused",
          "[reliability][npz]") {
  const fs::path corpus = fs::path(TAPEGRAD_SOURCE_DIR) / "tests/fuzz/corpus/npz";
  std::size_t valid = 0, broken = 0;
  for (const auto& entry : fs::directory_iterator(corpus)) {
    const std::string name = entry.path().filename().string();
    INFO(name);
    if (name.rfind("valid_", 0) == 0) {
      CHECK_NOTHROW(nn::load_npz(entry.path().string()));
      ++valid;
    } else {
      CHECK_THROWS_AS(nn::load_npz(entry.path().string()), Error);
      ++broken;
    }
  }
  CHECK(valid >= 3);
  CHECK(broken >= 5);
  // A header np.save would never write: 70 kB of padding, deflated to a few hundred bytes.
  CHECK_THROWS_WITH(nn::load_npz((corpus / "header_70kb.npz").string()),
                    Catch::Contains("key 'w': header length 70") &&
                        Catch::Contains("is above the 65536 accepted"));
}
