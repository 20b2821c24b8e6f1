// .npz checkpoints: the libzip container of .npy entries, reading with checks, atomic saves.
#include "tapegrad/nn/npz.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zip.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <memory>
#include <new>
#include <set>
#include <vector>

#include <fmt/format.h>

#include "nn/npy_format.hpp"
#include "nn/utf8.hpp"

namespace tg::nn {

bool Archive::contains(const std::string& key) const {
  return tensors.count(key) || integers.count(key) || strings.count(key);
}

namespace {

// Array data is copied between memory and the file as-is, which is right because .npy data is
// little-endian ("<" descriptors) and so is every host tapegrad targets.
static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "npz.cpp assumes a little-endian host");

using namespace npy;

// --- Reading ------------------------------------------------------------------------------------

using ZipArchive = std::unique_ptr<zip_t, decltype(&zip_discard)>;
using ZipFile = std::unique_ptr<zip_file_t, decltype(&zip_fclose)>;

std::string zip_error_message(int code) {
  zip_error_t error;
  zip_error_init_with_code(&error, code);
  std::string message = zip_error_strerror(&error);
  zip_error_fini(&error);
  return message;
}

Problem read_failure(zip_file_t* f) {
  return Problem(fmt::format("read failed: {}", zip_error_strerror(zip_file_get_error(f))));
}

void read_exact(zip_file_t* f, void* dst, std::size_t n) {
  auto* p = static_cast<char*>(dst);
  while (n > 0) {
    const zip_int64_t got = zip_fread(f, p, n);
    if (got < 0) throw read_failure(f);
    if (got == 0) throw Problem("entry is truncated");
    p += got;
    n -= static_cast<std::size_t>(got);
  }
}

// libzip verifies the CRC when the entry's end is reached, so read up to it even though the size
// is already known: a flipped bit in the data is reported here.
void expect_end(zip_file_t* f) {
  char extra;
  const zip_int64_t got = zip_fread(f, &extra, 1);
  if (got < 0) throw read_failure(f);
  if (got > 0) throw Problem("entry is longer than its recorded size");
}

template <class T>
Tensor read_tensor(zip_file_t* f, const Shape& shape, std::size_t bytes) {
  auto value = xt::xarray<T>::from_shape(shape);
  read_exact(f, value.data(), bytes);
  expect_end(f);
  return Tensor(std::move(value));
}

template <class T>
Indices read_indices(zip_file_t* f, const Shape& shape, std::size_t count) {
  std::vector<T> raw(count);
  read_exact(f, raw.data(), count * sizeof(T));
  expect_end(f);
  return Indices(std::vector<std::int64_t>(raw.begin(), raw.end()), shape);
}

std::string read_text(zip_file_t* f, std::size_t bytes) {
  std::u32string cps(bytes / 4, U'\0');
  read_exact(f, cps.data(), bytes);
  expect_end(f);
  // NumPy pads "<U" items with NULs and strips trailing ones when reading; so do we.
  while (!cps.empty() && cps.back() == U'\0') cps.pop_back();
  std::string text;
  if (!utf8::from_utf32(cps, text))
    throw Problem("text holds an invalid code point (e.g. a lone surrogate)");
  return text;
}

// An entry's header, checked against the entry's size: what remains to read is exactly `bytes`.
struct NpyLayout {
  NpyHeader header;
  Dtype dtype;
  std::size_t count = 0;  // elements
  std::size_t bytes = 0;  // of data after the header
};

constexpr std::uint64_t kMaxHeaderLen = 1 << 16;
// deflate cannot expand data more than ~1032 times; an entry declaring more than that is lying.
constexpr std::uint64_t kMaxDeflateRatio = 1032;

// Refuses an entry whose declared size its compressed bytes cannot hold, or that does not fit in
// the file at all, before anything is allocated for it.
void check_declared_size(const zip_stat_t& st, std::uint64_t file_size) {
  if (!(st.valid & ZIP_STAT_COMP_SIZE) || !(st.valid & ZIP_STAT_COMP_METHOD))
    throw Problem("no compressed size or method recorded");
  if (st.comp_size > file_size)
    throw Problem(fmt::format("declares {} compressed bytes in a file of {}", st.comp_size,
                              file_size));
  std::uint64_t most = 0;
  if (st.comp_method == ZIP_CM_STORE) most = st.comp_size;
  else if (st.comp_method == ZIP_CM_DEFLATE) most = st.comp_size * kMaxDeflateRatio + 1024;
  else throw Problem(fmt::format("compression method {} is not supported (stored or deflate)",
                                 st.comp_method));
  if (st.size > most)
    throw Problem(fmt::format("declares {} bytes, more than its {} bytes in the file can hold",
                              st.size, st.comp_size));
}

NpyLayout read_npy_header(zip_file_t* f, std::uint64_t entry_size) {
  char prefix[kMagicLen + 2];
  if (entry_size < sizeof prefix) throw Problem("too short to be a .npy array");
  read_exact(f, prefix, sizeof prefix);
  if (std::memcmp(prefix, kMagic, kMagicLen) != 0) throw Problem("not a .npy array (bad magic)");
  const int major = static_cast<unsigned char>(prefix[6]);
  const int minor = static_cast<unsigned char>(prefix[7]);
  if (major < 1 || major > 3 || minor != 0)
    throw Problem(fmt::format("unsupported .npy version {}.{}", major, minor));
  // Version 1.0 has a 2-byte header length; 2.0 and 3.0 (UTF-8 header) a 4-byte one.
  const std::size_t len_bytes = major == 1 ? 2 : 4;
  unsigned char len_raw[4] = {0, 0, 0, 0};
  if (entry_size < sizeof prefix + len_bytes) throw Problem("too short to be a .npy array");
  read_exact(f, len_raw, len_bytes);
  std::uint64_t header_len = 0;
  for (std::size_t k = len_bytes; k-- > 0;) header_len = (header_len << 8) | len_raw[k];
  // np.save writes headers of a few hundred bytes; a hostile one could declare 4 GB.
  if (header_len > kMaxHeaderLen)
    throw Problem(fmt::format("header length {} is above the {} accepted", header_len, kMaxHeaderLen));
  const std::uint64_t data_offset = sizeof prefix + len_bytes + header_len;
  if (data_offset > entry_size)
    throw Problem(
        fmt::format("header length {} exceeds the entry ({} bytes)", header_len, entry_size));
  std::string header_text(header_len, '\0');
  read_exact(f, header_text.data(), header_len);

  NpyLayout layout{parse_header(header_text), {}, 0, 0};
  const NpyHeader& header = layout.header;
  if (header.fortran_order)
    throw Problem("fortran_order True is not supported (save a C-contiguous array)");
  layout.dtype = parse_descr(header.descr);
  if (layout.dtype.kind == Kind::Unicode && !header.shape.empty())
    throw Problem(fmt::format("text arrays of shape {} are not supported (only 0-d strings)",
                              shape_str(header.shape)));
  layout.count = element_count(header.shape);
  layout.bytes = checked_mul(layout.count, layout.dtype.itemsize);
  if (entry_size - data_offset != layout.bytes)
    throw Problem(fmt::format("data is {} bytes but shape {} of dtype '{}' needs {}",
                              entry_size - data_offset, shape_str(header.shape), header.descr,
                              layout.bytes));
  return layout;
}

// Reads the rest of the entry; false if libzip complains (of a CRC error, typically).
bool reads_to_end(zip_file_t* f) {
  char buf[4096];
  zip_int64_t got;
  while ((got = zip_fread(f, buf, sizeof buf)) > 0) {
  }
  return got == 0;
}

EntryHeader entry_header(const NpyLayout& layout) {
  EntryHeader h;
  switch (layout.dtype.kind) {
    case Kind::Float32: h.type = EntryType::Float32; break;
    case Kind::Float64: h.type = EntryType::Float64; break;
    case Kind::Int64: h.type = EntryType::Int64; break;
    case Kind::Int32: h.type = EntryType::Int32; break;
    case Kind::Unicode: h.type = EntryType::Text; break;
  }
  h.shape = layout.header.shape;
  h.data_bytes = layout.bytes;
  return h;
}

void read_entry(zip_t* za, zip_uint64_t index, const zip_stat_t& st, const std::string& key,
                const EntryFilter& filter, Archive& out) {
  ZipFile f(zip_fopen_index(za, index, 0), &zip_fclose);
  if (!f) throw Problem(fmt::format("cannot open: {}", zip_strerror(za)));
  NpyLayout layout;
  try {
    layout = read_npy_header(f.get(), st.size);
  } catch (const Problem&) {
    // A header that makes no sense is more often a damaged file than a bad writer: if the
    // entry's CRC fails as well, that is the better diagnosis.
    if (!reads_to_end(f.get())) throw read_failure(f.get());
    throw;
  }
  // Only the header has been decompressed so far: the caller's checks come before the data's.
  if (filter) {
    try {
      if (!filter(key, entry_header(layout))) return;
    } catch (const Error& e) {
      throw Problem(e.what());
    }
  }
  const Shape& shape = layout.header.shape;
  zip_file_t* file = f.get();
  switch (layout.dtype.kind) {
    case Kind::Float32:
      out.tensors.emplace(key, read_tensor<float>(file, shape, layout.bytes));
      break;
    case Kind::Float64:
      out.tensors.emplace(key, read_tensor<double>(file, shape, layout.bytes));
      break;
    case Kind::Int64:
      out.integers.emplace(key, read_indices<std::int64_t>(file, shape, layout.count));
      break;
    case Kind::Int32:
      out.integers.emplace(key, read_indices<std::int32_t>(file, shape, layout.count));
      break;
    case Kind::Unicode:
      out.strings.emplace(key, read_text(file, layout.bytes));
      break;
  }
}

Archive load_archive(const std::string& path, const EntryFilter& filter) {
  struct stat file_stat;
  if (::stat(path.c_str(), &file_stat) != 0) throw Problem(std::strerror(errno));
  if (S_ISDIR(file_stat.st_mode)) throw Problem("is a directory");
  // libzip reads a 0-byte file as an empty archive; for a checkpoint it means a failed write.
  if (file_stat.st_size == 0) throw Problem("empty file, not a zip archive");

  int code = 0;
  ZipArchive za(zip_open(path.c_str(), ZIP_RDONLY | ZIP_CHECKCONS, &code), &zip_discard);
  if (!za) {
    if (code == ZIP_ER_NOZIP)
      throw Problem("not a zip archive, or truncated (no end-of-central-directory record)");
    if (code == ZIP_ER_INCONS)
      throw Problem("corrupt zip archive (its directory and entries disagree)");
    throw Problem(fmt::format("cannot read the zip archive: {}", zip_error_message(code)));
  }

  Archive out;
  std::set<std::string> keys;  // skipped entries included
  const zip_int64_t n = zip_get_num_entries(za.get(), 0);
  for (zip_int64_t i = 0; i < n; ++i) {
    zip_stat_t st;
    if (zip_stat_index(za.get(), static_cast<zip_uint64_t>(i), 0, &st) != 0 ||
        !(st.valid & ZIP_STAT_NAME) || !(st.valid & ZIP_STAT_SIZE))
      throw Problem(fmt::format("entry {}: unreadable: {}", i, zip_strerror(za.get())));
    const std::string name = st.name;
    if (name.size() <= 4 || name.compare(name.size() - 4, 4, ".npy") != 0)
      throw Problem(fmt::format("entry '{}' is not a .npy array (not named <key>.npy)", name));
    const std::string key = name.substr(0, name.size() - 4);
    if (!keys.insert(key).second) throw Problem(fmt::format("key '{}' appears twice", key));
    try {
      check_declared_size(st, static_cast<std::uint64_t>(file_stat.st_size));
      read_entry(za.get(), static_cast<zip_uint64_t>(i), st, key, filter, out);
    } catch (const Problem& p) {
      throw Problem(fmt::format("key '{}': {}", key, p.what()));
    } catch (const std::bad_alloc&) {
      throw Problem(fmt::format("key '{}': out of memory for {} bytes", key, st.size));
    }
  }
  return out;
}

// --- Writing ------------------------------------------------------------------------------------

// One "<key>.npy" entry: the header, then the array's bytes, which stay where they are (the
// tensor's own buffer) until zip_close has copied them into the file.
struct PendingEntry {
  std::string name;
  std::string header;
  const void* external = nullptr;  // tensor or integer data, owned by the Archive
  std::size_t external_size = 0;
  std::u32string text;             // a string's UTF-32 code points, owned here

  const void* data() const { return external ? external : text.data(); }
  std::size_t data_size() const { return external ? external_size : text.size() * 4; }
};

std::vector<PendingEntry> pending_entries(const Archive& archive) {
  std::vector<PendingEntry> entries;
  const auto add = [&](const std::string& key, const std::string& descr, const Shape& shape,
                       const void* data, std::size_t size) -> PendingEntry& {
    std::u32string ignored;
    if (key.empty()) throw Problem("empty key");
    if (utf8::to_utf32(key, ignored) != std::string::npos)
      throw Problem(fmt::format("key '{}' is not valid UTF-8", key));
    entries.push_back({key + ".npy", npy_header(descr, shape), data, size, {}});
    return entries.back();
  };
  for (const auto& [key, t] : archive.tensors) {
    if (!t.defined()) throw Problem(fmt::format("key '{}': tensor is undefined", key));
    if (t.dtype() == DType::Float32)
      add(key, "<f4", t.shape(), t.value<float>().data(), t.size() * sizeof(float));
    else
      add(key, "<f8", t.shape(), t.value<double>().data(), t.size() * sizeof(double));
  }
  for (const auto& [key, ix] : archive.integers) {
    if (element_count(ix.shape) != ix.data.size())
      throw Problem(fmt::format("key '{}': {} integers for shape {}", key, ix.data.size(),
                                shape_str(ix.shape)));
    add(key, "<i8", ix.shape, ix.data.data(), ix.data.size() * sizeof(std::int64_t));
  }
  for (const auto& [key, text] : archive.strings) {
    std::u32string cps;
    const std::size_t bad = utf8::to_utf32(text, cps);
    if (bad != std::string::npos)
      throw Problem(fmt::format("key '{}': text is not valid UTF-8 (byte {})", key, bad));
    if (!cps.empty() && cps.back() == U'\0')
      throw Problem(fmt::format("key '{}': text ends with NUL, which NumPy cannot hold", key));
    if (cps.empty()) cps.push_back(U'\0');  // np.array('') is '<U1' holding one NUL, too
    PendingEntry& e = add(key, fmt::format("<U{}", cps.size()), Shape{}, nullptr, 0);
    e.text = std::move(cps);
  }
  std::sort(entries.begin(), entries.end(),
            [](const PendingEntry& a, const PendingEntry& b) { return a.name < b.name; });
  for (std::size_t i = 1; i < entries.size(); ++i)
    if (entries[i].name == entries[i - 1].name)
      throw Problem(fmt::format("key '{}' is used twice",
                                entries[i].name.substr(0, entries[i].name.size() - 4)));
  return entries;
}

// 1980-01-01 00:00 local time, the earliest zip timestamp and Python's ZipInfo default: a fixed
// date makes saves reproducible byte for byte (libzip converts it back with localtime).
std::time_t fixed_mtime() {
  std::tm tm{};
  tm.tm_year = 80;
  tm.tm_mday = 1;
  tm.tm_isdst = -1;
  return std::mktime(&tm);
}

// libzip removes the file instead of writing an archive with no entries, so an empty archive is
// written as what np.savez writes for it: the 22-byte end-of-central-directory record alone.
void write_empty_zip(const std::string& path) {
  const char eocd[22] = {'P', 'K', 5, 6};
  FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) throw Problem(fmt::format("cannot create '{}': {}", path, std::strerror(errno)));
  const bool ok = std::fwrite(eocd, 1, sizeof eocd, f) == sizeof eocd;
  if (std::fclose(f) != 0 || !ok) throw Problem(fmt::format("cannot write '{}'", path));
}

void write_zip(const std::string& path, const std::vector<PendingEntry>& entries) {
  if (entries.empty()) return write_empty_zip(path);
  int code = 0;
  ZipArchive za(zip_open(path.c_str(), ZIP_CREATE | ZIP_TRUNCATE, &code), &zip_discard);
  if (!za) throw Problem(fmt::format("cannot create '{}': {}", path, zip_error_message(code)));
  const std::time_t mtime = fixed_mtime();
  for (const PendingEntry& e : entries) {
    zip_buffer_fragment_t fragments[2] = {
        {reinterpret_cast<zip_uint8_t*>(const_cast<char*>(e.header.data())), e.header.size()},
        {static_cast<zip_uint8_t*>(const_cast<void*>(e.data())), e.data_size()}};
    const zip_uint64_t n = e.data_size() ? 2 : 1;  // no empty fragment: libzip mis-indexes them
    zip_source_t* source = zip_source_buffer_fragment(za.get(), fragments, n, 0);
    if (!source) throw Problem(fmt::format("'{}': {}", e.name, zip_strerror(za.get())));
    const zip_int64_t index = zip_file_add(za.get(), e.name.c_str(), source, ZIP_FL_ENC_UTF_8);
    if (index < 0) {
      zip_source_free(source);
      throw Problem(fmt::format("'{}': {}", e.name, zip_strerror(za.get())));
    }
    // Stored, as np.savez does: trained float weights barely deflate (a few percent) while
    // deflating costs far more time than writing; load_npz reads deflated entries too.
    const auto i = static_cast<zip_uint64_t>(index);
    if (zip_set_file_compression(za.get(), i, ZIP_CM_STORE, 0) != 0 ||
        zip_file_set_mtime(za.get(), i, mtime, 0) != 0 ||
        zip_file_set_external_attributes(za.get(), i, 0, ZIP_OPSYS_UNIX, 0100644u << 16) != 0)
      throw Problem(fmt::format("'{}': {}", e.name, zip_strerror(za.get())));
  }
  if (zip_close(za.get()) != 0)
    throw Problem(fmt::format("writing '{}' failed: {}", path, zip_strerror(za.get())));
  za.release();  // closed: zip_close freed it
}

void fsync_path(const std::string& path, bool directory) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | (directory ? O_DIRECTORY : 0));
  if (fd < 0)
    throw Problem(fmt::format("cannot open '{}' to sync it: {}", path, std::strerror(errno)));
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  // Some file systems cannot sync a directory (EINVAL); the rename itself has still happened.
  if (rc != 0 && !(directory && (err == EINVAL || err == EROFS)))
    throw Problem(fmt::format("fsync of '{}' failed: {}", path, std::strerror(err)));
}

void save_archive(const std::string& path, const Archive& archive) {
  namespace fs = std::filesystem;
  // Everything that can be refused is checked before any file is created.
  const std::vector<PendingEntry> entries = pending_entries(archive);
  fs::path dir = fs::path(path).parent_path();
  if (dir.empty()) dir = ".";
  std::error_code ec;
  if (!fs::is_directory(dir, ec))
    throw Problem(fmt::format("directory '{}' does not exist", dir.string()));

  // Unique per process and call; the name shows what it is if a crash leaves it behind.
  static std::atomic<unsigned> counter{0};
  const std::string temp = fmt::format("{}.tmp-{}-{}", path, ::getpid(), counter++);
  try {
    write_zip(temp, entries);
    fsync_path(temp, false);
    if (std::rename(temp.c_str(), path.c_str()) != 0)
      throw Problem(fmt::format("cannot rename '{}' to it: {}", temp, std::strerror(errno)));
  } catch (...) {
    ::unlink(temp.c_str());
    throw;
  }
  // Makes the rename itself durable.
  fsync_path(dir.string(), true);
}

}  // namespace

void save_npz(const std::string& path, const Archive& archive) {
  try {
    save_archive(path, archive);
  } catch (const Problem& p) {
    throw Error(fmt::format("save_npz: '{}': {}", path, p.what()));
  }
}

std::string to_string(EntryType type) {
  switch (type) {
    case EntryType::Float32: return "float32";
    case EntryType::Float64: return "float64";
    case EntryType::Int64: return "int64";
    case EntryType::Int32: return "int32";
    case EntryType::Text: return "text";
  }
  return "?";
}

Archive load_npz(const std::string& path) { return load_npz(path, nullptr); }

Archive load_npz(const std::string& path, const EntryFilter& filter) {
  try {
    return load_archive(path, filter);
  } catch (const Problem& p) {
    throw Error(fmt::format("load_npz: '{}': {}", path, p.what()));
  } catch (const std::bad_alloc&) {
    throw Error(fmt::format("load_npz: '{}': out of memory", path));
  }
}

}  // namespace tg::nn
