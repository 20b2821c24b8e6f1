// Files of a training run: atomic writes, the metrics CSV, run folders and line reading.
//
// In a data-parallel run (tg::train::parallel()) rank 0 alone writes: on the other ranks the
// writers (write_file_atomic, CsvWriter, make_run_dir, claim_run_dir, and the checkpoint and
// resume savers built on them) do nothing, so the training loops need no rank tests around each
// write.
#pragma once

#include <cstdio>
#include <ctime>
#include <filesystem>
#include <initializer_list>
#include <string>
#include <type_traits>
#include <vector>
#include <cstddef>

namespace tg::train {

// 'path' in single quotes, as error messages name files and folders.
std::string quoted(const std::filesystem::path& path);

// Replaces `path` with `contents` so that readers see the old file or the new one, never half
// of either (a run killed while writing its loss curve must not leave a truncated file): a
// temporary in the same directory, fsync, rename. Throws tg::Error naming the path.
void write_file_atomic(const std::filesystem::path& path, const std::string& contents);

// The whole file as bytes; tg::Error naming the path if it cannot be read.
std::string read_file(const std::filesystem::path& path);

// The lines of a text file without their "\n" / "\r\n" (Windows-edited data files) and without
// a leading UTF-8 byte-order mark. A missing file is a tg::Error naming the path, and so is a
// line longer than `max_line_bytes` ("<path>:<line>: longer than N bytes"), refused while it is
// read (a binary file or a text without newlines must not be pulled into memory as one line).
std::vector<std::string> read_lines(const std::filesystem::path& path,
                                    std::size_t max_line_bytes = std::size_t{1} << 20);

// One CSV cell, converted on construction so that a row can mix text and numbers.
class CsvField {
 public:
  CsvField(std::string text) : text_(std::move(text)) {}
  CsvField(const char* text) : text_(text) {}
  template <class T, std::enable_if_t<std::is_integral_v<T>, int> = 0>
  CsvField(T value) : text_(std::to_string(value)) {}
  // Seven significant digits: all a float32 loss carries, and short enough to read.
  CsvField(double value);
  const std::string& text() const { return text_; }

 private:
  std::string text_;
};

// Metrics as CSV: the header once, then one row per call, each flushed to the OS at once so a
// crashed or killed run keeps every row it reported. Opening a new run replaces what the file held:
// a run folder reused with --overwrite must not mix two runs' rows.
class CsvWriter {
 public:
  CsvWriter(const std::filesystem::path& path, std::vector<std::string> header);
  // A resumed run: keeps the header and the first `keep_rows` rows the file holds (later ones
  // were written after the state being resumed was saved) and appends after them. Throws
  // tg::Error when the file is missing, its header differs or it holds fewer rows.
  CsvWriter(const std::filesystem::path& path, std::vector<std::string> header,
            std::size_t keep_rows);
  // The rows kept by the resuming constructor, split into cells (no quoting: numbers only).
  const std::vector<std::vector<std::string>>& kept() const { return kept_; }
  ~CsvWriter();
  CsvWriter(const CsvWriter&) = delete;
  CsvWriter& operator=(const CsvWriter&) = delete;

  // Throws tg::Error if the row's length differs from the header's.
  void write_row(std::initializer_list<CsvField> row);
  void write_row(const std::vector<CsvField>& row);
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
  std::vector<std::string> header_;
  std::vector<std::vector<std::string>> kept_;
  std::FILE* file_ = nullptr;
};

// One CSV line (no newline) with RFC 4180 quoting where a cell needs it.
std::string csv_line(const std::vector<std::string>& cells);

// Creates and returns base/<YYYYmmdd-HHMMSS> in local time, or base/<stamp>-2, -3, ... when
// that exists (two runs started in the same second). base is created if missing.
std::filesystem::path make_run_dir(const std::filesystem::path& base,
                                   std::time_t now = std::time(nullptr));

// An exclusive lock on a run folder (flock on <dir>/.lock), held while the object lives. The
// kernel releases it when the process ends, however it ends, so a killed run never leaves a
// folder locked. Move-only.
class RunLock {
 public:
  RunLock() = default;
  // Throws tg::Error "run folder '<dir>' is in use by another run (pid N)" when held elsewhere.
  explicit RunLock(const std::filesystem::path& dir);
  RunLock(RunLock&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
  RunLock& operator=(RunLock&& other) noexcept;
  RunLock(const RunLock&) = delete;
  RunLock& operator=(const RunLock&) = delete;
  ~RunLock();
  bool held() const { return fd_ >= 0; }

 private:
  int fd_ = -1;
};

// How a run is about to use its folder.
enum class RunDirUse {
  New,        // must hold no checkpoint (*.npz) and no other file: a typo in --out must not
              // destroy or mix with earlier work
  Overwrite,  // --overwrite: whatever it holds is replaced
  Resume,     // --resume: continues what is there
};

// A run folder claimed by this process: locked, and free of temporary files left by a killed
// save (nn::save_npz's "<file>.tmp-*", write_file_atomic's ".<file>.tmp.*"): with the lock held no
// other process can be writing them. Created if missing.
struct RunFolder {
  std::filesystem::path path;
  RunLock lock;
  std::size_t stale_removed = 0;  // temporary files of killed runs that were removed
};

// Claims `dir` for a run used as `use` says. Every refusal is a one-line tg::Error naming the
// folder and what to pass instead (--overwrite, --resume, another folder), thrown before any
// file in it is changed.
RunFolder claim_run_dir(const std::filesystem::path& dir, RunDirUse use);

// A warning on stderr when claim_run_dir removed temporary files of a killed run.
void report_stale(const RunFolder& folder);

// Whether `name` is a temporary file of a save (see RunFolder).
bool is_temporary_file(const std::string& name);

}  // namespace tg::train
