// Helpers shared by the test files: a temporary folder, whole-file reads and writes, and running
// a program with its output captured.
#pragma once

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <system_error>

namespace tg::testing {

// A fresh empty folder under /tmp, removed with everything in it when the object goes.
struct TempDir {
  std::filesystem::path path;
  TempDir() {
    char name[] = "/tmp/tapegrad_test_XXXXXX";
    path = ::mkdtemp(name);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  // The path of `name` inside the folder, as the string most APIs under test take.
  std::string file(const std::string& name) const { return (path / name).string(); }
};

inline void write_text(const std::filesystem::path& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

inline std::string read_text(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Everything written to a FILE* (a tmpfile) so far.
inline std::string written_to(std::FILE* f) {
  std::fflush(f);
  std::rewind(f);
  std::string out;
  char buf[4096];
  while (std::size_t n = std::fread(buf, 1, sizeof buf, f)) out.append(buf, n);
  return out;
}

// How many times `what` occurs in `s`, without overlaps.
inline std::size_t occurrences(const std::string& s, const std::string& what) {
  std::size_t n = 0;
  for (std::size_t p = s.find(what); p != std::string::npos; p = s.find(what, p + what.size())) ++n;
  return n;
}

// `arg` single-quoted for the shell.
inline std::string shell_quote(const std::string& arg) {
  std::string out = "'";
  for (char c : arg) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

struct RunResult {
  int code = -1;  // exit code; -1 if the program did not exit normally
  std::string out, err;
};

// Runs the shell command line `command` in the folder `cwd`, stdout and stderr captured apart.
inline RunResult run_shell(const std::string& command, const std::filesystem::path& cwd) {
  TempDir capture;
  const std::string line = "cd " + shell_quote(cwd.string()) + " && " + command + " >" +
                           shell_quote((capture.path / "out").string()) + " 2>" +
                           shell_quote((capture.path / "err").string());
  const int status = std::system(line.c_str());
  RunResult r;
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.out = read_text(capture.path / "out");
  r.err = read_text(capture.path / "err");
  return r;
}

// Every file under `dir` with its contents, folders as "/" (to show that a refused command
// changed nothing).
inline std::map<std::string, std::string> snapshot(const std::filesystem::path& dir) {
  std::map<std::string, std::string> files;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir))
    files[std::filesystem::relative(e.path(), dir).string()] =
        e.is_regular_file() ? read_text(e.path()) : "/";
  return files;
}

}  // namespace tg::testing
