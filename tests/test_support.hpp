// Helpers shared by the test files: a temporary folder, whole-file reads and writes, and running
// a program with its output captured.
#pragma once

#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
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

}  // namespace tg::testing
