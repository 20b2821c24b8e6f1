// Shared by the name_language tests: where the shipped and the full name sets are, and names
// made of letters for small data folders.
#pragma once

#include <filesystem>
#include <string>

namespace tg::testing {

inline const std::filesystem::path kShippedNames =
    std::filesystem::path(TAPEGRAD_SOURCE_DIR) / "data" / "names";
// The full public set lives beside the repository; tests that need it skip when it is absent.
inline const std::filesystem::path kFullNames =
    std::filesystem::path(TAPEGRAD_SOURCE_DIR) / ".." / "shared" / "data" / "names";

// `count` (<= 26) names "<stem>a", "<stem>b", ..., one per line: ASCII folding keeps only letters.
inline std::string letter_names(const std::string& stem, int count) {
  std::string lines;
  for (int i = 0; i < count; ++i) lines += stem + static_cast<char>('a' + i) + "\n";
  return lines;
}

}  // namespace tg::testing
