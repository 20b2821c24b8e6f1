// What the training utilities tell the user on stderr, and the program name their lines start with.
#pragma once

#include <string>

namespace tg::train {

// The program's name as messages show it: argv[0] without its directories once
// set_program_name has seen it ("tapegrad" before).
const std::string& program_name();
void set_program_name(const std::string& argv0);

// "<program>: <kind>: <message>" as one line (line breaks in `message` become spaces) of at most
// ~400 characters: the rest is cut, with a count of what was cut. An error listing thousands of
// keys (a damaged checkpoint's) is no more useful than its first ones.
std::string message_line(const std::string& kind, const std::string& message);

// message_line on stderr, after flushing stdout so that a log merging both streams keeps the
// order.
void print_message(const std::string& kind, const std::string& message);
void print_error(const std::string& message);    // kind "error"
void print_warning(const std::string& message);  // kind "warning"

}  // namespace tg::train
