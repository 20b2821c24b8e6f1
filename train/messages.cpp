// What the training utilities tell the user on stderr, and the program name their lines start with.
#include "tapegrad/train/messages.hpp"

#include <cstdio>
#include <iostream>

namespace tg::train {
namespace {

std::string& name_storage() {
  static std::string name = "tapegrad";
  return name;
}

// Messages from nested errors may hold newlines; the contract is one line.
std::string one_line(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (c == '\n' || c == '\r') {
      if (!out.empty() && out.back() != ' ') out += ' ';
    } else {
      out += c;
    }
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

std::string short_line(const std::string& text) {
  constexpr std::size_t kMax = 400, kKeep = 300;
  std::string line = one_line(text);
  if (line.size() > kMax) {
    std::size_t cut = kKeep;
    while (cut > 0 && (static_cast<unsigned char>(line[cut]) & 0xC0) == 0x80) --cut;  // UTF-8
    line = line.substr(0, cut) + "... (" + std::to_string(line.size() - cut) +
           " more characters)";
  }
  return line;
}

}  // namespace

const std::string& program_name() { return name_storage(); }

void set_program_name(const std::string& argv0) {
  if (!argv0.empty()) name_storage() = argv0.substr(argv0.find_last_of('/') + 1);
}

std::string message_line(const std::string& kind, const std::string& message) {
  return program_name() + ": " + kind + ": " + short_line(message);
}

void print_message(const std::string& kind, const std::string& message) {
  std::cout.flush();
  std::fflush(stdout);
  std::fprintf(stderr, "%s\n", message_line(kind, message).c_str());
  std::fflush(stderr);
}

void print_error(const std::string& message) { print_message("error", message); }

void print_warning(const std::string& message) { print_message("warning", message); }

}  // namespace tg::train
