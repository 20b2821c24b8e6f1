// tg::train: the training utilities (run files, resume, signals, progress, curves) in one include.
#pragma once

#include "tapegrad/train/parallel.hpp"
