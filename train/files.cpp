// Files of a training run: atomic writes, the metrics CSV, run folders and line reading.
#include "tapegrad/train/files.hpp"

#include <fmt/format.h>

#include "tapegrad/autograd/error.hpp"
#include "tapegrad/train/messages.hpp"
#include "tapegrad/train/parallel.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

namespace tg::train {
namespace fs = std::filesystem;

std::string quoted(const fs::path& path) { return "'" + path.string() + "'"; }

namespace {

[[noreturn]] void throw_errno(const char* function, const std::string& what, const fs::path& path,
                              int err) {
  throw Error(std::string(function) + ": cannot " + what + " " + quoted(path) + ": " +
              std::strerror(err));
}

// Closes a descriptor on every path out, keeping errno of the failure being reported.
struct FdGuard {
  int fd;
  ~FdGuard() {
    if (fd >= 0) {
      const int saved = errno;
      ::close(fd);
      errno = saved;
    }
  }
};

bool write_all(int fd, const char* data, std::size_t size) {
  while (size > 0) {
    const ssize_t n = ::write(fd, data, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    data += n;
    size -= static_cast<std::size_t>(n);
  }
  return true;
}

// Makes the rename itself durable; a failure here is not worth failing the write over (some
// file systems refuse fsync on directories), the data is already safe in the file.
void sync_directory(const fs::path& dir) {
  const int fd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd < 0) return;
  ::fsync(fd);
  ::close(fd);
}

}  // namespace

void write_file_atomic(const fs::path& path, const std::string& contents) {
  if (!parallel().is_root()) return;  // rank 0 writes the run's files
  static std::atomic<unsigned> counter{0};
  const fs::path dir = path.parent_path();
  // Same directory, so the rename stays on one file system; a dot name keeps it out of `ls`;
  // pid + counter + O_EXCL keep concurrent writers (threads or processes) apart.
  fs::path tmp;
  int fd = -1;
  for (int attempt = 0; fd < 0; ++attempt) {
    tmp = dir / ("." + path.filename().string() + ".tmp." + std::to_string(::getpid()) + "." +
                 std::to_string(counter++));
    // 0666 minus the umask: the permissions an ordinary new file would get.
    fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd < 0 && (errno != EEXIST || attempt > 100))
      throw_errno("write_file_atomic", "create a temporary file for", path, errno);
  }
  FdGuard guard{fd};
  const auto fail = [&](const char* what) {
    const int err = errno;
    ::unlink(tmp.c_str());
    throw_errno("write_file_atomic", what, path, err);
  };
  if (!write_all(fd, contents.data(), contents.size())) fail("write");
  if (::fsync(fd) != 0) fail("sync");
  guard.fd = -1;
  if (::close(fd) != 0) fail("write");
  if (::rename(tmp.c_str(), path.c_str()) != 0) fail("replace");
  sync_directory(dir);
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw_errno("read_file", "open", path, errno);
  std::ostringstream out;
  out << in.rdbuf();
  if (in.bad()) throw_errno("read_file", "read", path, errno);
  return out.str();
}

std::vector<std::string> read_lines(const fs::path& path, std::size_t max_line_bytes) {
  // A directory opens fine as an ifstream on Linux and then reads nothing: say so instead.
  std::error_code ec;
  if (fs::is_directory(path, ec)) throw Error("read_lines: " + quoted(path) + " is a directory");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw_errno("read_lines", "open", path, errno);
  std::vector<std::string> lines;
  std::string line;
  // getline with a bound: "\r\n" counts its "\r" until it is removed.
  const auto get_line = [&](std::string& out) -> bool {
    out.clear();
    std::streambuf* buf = in.rdbuf();
    for (int c; (c = buf->sbumpc()) != std::char_traits<char>::eof();) {
      if (c == '\n') return true;
      if (out.size() > max_line_bytes)
        throw Error(fmt::format("{}:{}: a line longer than {} bytes (is this a text file?)",
                                path.string(), lines.size() + 1, max_line_bytes));
      out.push_back(static_cast<char>(c));
    }
    return !out.empty();
  };
  while (get_line(line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.size() > max_line_bytes)
      throw Error(fmt::format("{}:{}: a line longer than {} bytes (is this a text file?)",
                              path.string(), lines.size() + 1, max_line_bytes));
    if (lines.empty() && line.compare(0, 3, "\xEF\xBB\xBF") == 0) line.erase(0, 3);
    lines.push_back(std::move(line));
  }
  if (in.bad()) throw_errno("read_lines", "read", path, errno);
  return lines;
}

CsvField::CsvField(double value) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.7g", value);
  text_ = buf;
}

std::string csv_line(const std::vector<std::string>& cells) {
  std::string out;
  for (std::size_t i = 0; i < cells.size(); ++i) {
    if (i) out += ',';
    const std::string& c = cells[i];
    if (c.find_first_of(",\"\r\n") == std::string::npos) {
      out += c;
      continue;
    }
    out += '"';
    for (char ch : c) {
      if (ch == '"') out += '"';
      out += ch;
    }
    out += '"';
  }
  return out;
}

CsvWriter::CsvWriter(const fs::path& path, std::vector<std::string> header)
    : path_(path), header_(std::move(header)) {
  if (!parallel().is_root()) return;  // rank 0 writes the run's files; rows go nowhere
  file_ = std::fopen(path_.c_str(), "wb");
  if (!file_) throw_errno("CsvWriter", "open", path_, errno);
  write_row(std::vector<CsvField>(header_.begin(), header_.end()));
}

CsvWriter::CsvWriter(const fs::path& path, std::vector<std::string> header, std::size_t keep_rows)
    : path_(path), header_(std::move(header)) {
  const std::vector<std::string> lines = read_lines(path_);
  if (lines.empty() || lines[0] != csv_line(header_))
    throw Error("CsvWriter: " + quoted(path_) + " does not start with the header " +
                csv_line(header_));
  if (lines.size() - 1 < keep_rows)
    throw Error("CsvWriter: " + quoted(path_) + " holds " + std::to_string(lines.size() - 1) +
                " rows, fewer than the " + std::to_string(keep_rows) + " the run had written");
  std::string kept = lines[0] + "\n";
  for (std::size_t i = 1; i <= keep_rows; ++i) {
    kept += lines[i] + "\n";
    std::vector<std::string> cells;
    std::size_t start = 0;
    for (std::size_t comma; (comma = lines[i].find(',', start)) != std::string::npos; start = comma + 1)
      cells.push_back(lines[i].substr(start, comma - start));
    cells.push_back(lines[i].substr(start));
    kept_.push_back(std::move(cells));
  }
  if (!parallel().is_root()) return;
  write_file_atomic(path_, kept);
  file_ = std::fopen(path_.c_str(), "ab");
  if (!file_) throw_errno("CsvWriter", "open", path_, errno);
}

CsvWriter::~CsvWriter() {
  if (file_) std::fclose(file_);
}

void CsvWriter::write_row(std::initializer_list<CsvField> row) {
  write_row(std::vector<CsvField>(row));
}

void CsvWriter::write_row(const std::vector<CsvField>& row) {
  if (row.size() != header_.size())
    throw Error("CsvWriter: row of " + std::to_string(row.size()) + " values for " +
                std::to_string(header_.size()) + " columns (" + csv_line(header_) + ") in " +
                quoted(path_));
  if (!file_) return;  // not rank 0
  std::vector<std::string> cells;
  cells.reserve(row.size());
  for (const CsvField& f : row) cells.push_back(f.text());
  const std::string line = csv_line(cells) + "\n";
  // fflush hands the row to the kernel: it survives the process dying (crash, Ctrl-C, OOM
  // kill). An fsync per row would also survive power loss, at a cost metrics do not need.
  if (std::fwrite(line.data(), 1, line.size(), file_) != line.size() || std::fflush(file_) != 0)
    throw_errno("CsvWriter", "write to", path_, errno);
}

fs::path make_run_dir(const fs::path& base, std::time_t now) {
  if (!parallel().is_root()) return base;  // rank 0 makes (and names) the run folder
  std::error_code ec;
  fs::create_directories(base, ec);
  if (ec) throw Error("make_run_dir: cannot create " + quoted(base) + ": " + ec.message());
  std::tm local{};
  localtime_r(&now, &local);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", &local);
  // create_directory reports whether it made the folder, so two processes racing for the same
  // name cannot both get it.
  for (int n = 1; n < 1000; ++n) {
    const fs::path dir = base / (n == 1 ? std::string(stamp) : stamp + ("-" + std::to_string(n)));
    if (fs::create_directory(dir, ec)) return dir;
    if (ec) throw Error("make_run_dir: cannot create " + quoted(dir) + ": " + ec.message());
  }
  throw Error("make_run_dir: too many runs named " + quoted(base / stamp));
}

namespace {

// Takes the lock of `fd` (dir's .lock), or throws "in use by another run (pid N)" naming the
// holder, or the system's error; `fd` is closed when it throws.
void lock_or_throw(int fd, const fs::path& dir) {
  if (::flock(fd, LOCK_EX | LOCK_NB) == 0) return;
  const int err = errno;
  char pid[32] = {};
  const ssize_t n = ::pread(fd, pid, sizeof pid - 1, 0);
  ::close(fd);
  if (err == EWOULDBLOCK)
    throw Error("run folder " + quoted(dir) + " is in use by another run" +
                (n > 0 ? " (pid " + std::string(pid, static_cast<std::size_t>(n)) + ")" : "") +
                "; wait for it to finish or choose another --out");
  throw_errno("run folder", "lock", dir / ".lock", err);
}

// Throws as lock_or_throw when another process holds dir's lock; creates nothing.
void refuse_if_held(const fs::path& dir) {
  const int fd = ::open((dir / ".lock").c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) return;  // never locked
  lock_or_throw(fd, dir);
  ::close(fd);  // releases it again
}

}  // namespace

RunLock::RunLock(const fs::path& dir) {
  const fs::path file = dir / ".lock";
  const int fd = ::open(file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0666);
  if (fd < 0) throw_errno("run folder", "create the lock file", file, errno);
  lock_or_throw(fd, dir);
  fd_ = fd;
  // The holder's pid, for the message another run shows.
  const std::string pid = std::to_string(::getpid());
  if (::ftruncate(fd_, 0) == 0) write_all(fd_, pid.data(), pid.size());
}

RunLock& RunLock::operator=(RunLock&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = other.fd_;
    other.fd_ = -1;
  }
  return *this;
}

RunLock::~RunLock() {
  if (fd_ >= 0) ::close(fd_);  // closing the last descriptor releases the flock
}

void report_stale(const RunFolder& folder) {
  if (folder.stale_removed)
    print_warning(std::to_string(folder.stale_removed) + " temporary file(s) left in " +
                  quoted(folder.path) + " by an interrupted save were removed");
}

bool is_temporary_file(const std::string& name) {
  return name.find(".tmp-") != std::string::npos ||
         (!name.empty() && name[0] == '.' && name.find(".tmp.") != std::string::npos);
}

namespace {

// What a run folder holds besides its lock: temporary files of killed saves, a checkpoint, others.
struct FolderContents {
  std::vector<fs::path> stale;
  std::string checkpoint, other;
};

FolderContents list_run_dir(const fs::path& dir) {
  FolderContents contents;
  std::error_code ec;
  for (const fs::directory_entry& entry : fs::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (name == ".lock") continue;
    if (is_temporary_file(name)) contents.stale.push_back(entry.path());
    else if (entry.path().extension() == ".npz") contents.checkpoint = name;
    else contents.other = name;
  }
  if (ec) throw Error("run folder " + quoted(dir) + " cannot be listed: " + ec.message());
  return contents;
}

void refuse_unless_usable(const fs::path& dir, RunDirUse use, const FolderContents& contents) {
  if (use != RunDirUse::New) return;
  if (!contents.checkpoint.empty())
    throw Error("run folder " + quoted(dir) + " already holds a checkpoint (" +
                contents.checkpoint + "); choose another folder, pass --resume to continue it, "
                "or --overwrite to replace it");
  if (!contents.other.empty())
    throw Error("run folder " + quoted(dir) + " is not empty (" + contents.other +
                ") and holds no checkpoint; choose another folder, or pass --overwrite to "
                "replace what it holds");
}

}  // namespace

RunFolder claim_run_dir(const fs::path& dir, RunDirUse use) {
  // In a data-parallel job rank 0 claims the folder (its refusals end the whole job); the other
  // ranks neither lock nor check it.
  if (!parallel().is_root()) return RunFolder{dir, RunLock()};
  std::error_code ec;
  if (fs::exists(dir, ec) && !fs::is_directory(dir, ec))
    throw Error("run folder " + quoted(dir) + " exists and is not a folder");
  // A folder refused as it stands is refused before the lock file is created in it: a mistyped
  // --out naming someone's folder is left exactly as it was.
  if (fs::is_directory(dir, ec)) {
    // A folder in use is that first: what it holds is the other run's work in progress.
    refuse_if_held(dir);
    refuse_unless_usable(dir, use, list_run_dir(dir));
  }
  fs::create_directories(dir, ec);
  if (ec) throw Error("run folder " + quoted(dir) + " cannot be created: " + ec.message());
  RunFolder folder{dir, RunLock(dir)};
  // Checked again with the lock held: two runs started together cannot both find it empty.
  const FolderContents contents = list_run_dir(dir);
  refuse_unless_usable(dir, use, contents);
  for (const fs::path& path : contents.stale)
    if (fs::remove(path, ec)) ++folder.stale_removed;
  return folder;
}

}  // namespace tg::train
