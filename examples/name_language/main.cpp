// name_language: classify surnames by language with a character-level RNN / LSTM / GRU.
#include "name_language/commands.hpp"

int main(int argc, char** argv) { return tg::examples::names::name_language_main(argc, argv); }
