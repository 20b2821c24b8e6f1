// seq2seq: a character-level encoder-decoder with attention that writes dates as ISO dates.
#include "seq2seq/commands.hpp"

int main(int argc, char** argv) { return tg::examples::seq2seq::seq2seq_main(argc, argv); }
