// tg::train: the Trainer, its callbacks and the training utilities, in one include.
#pragma once

#include "tapegrad/train/budget_schedule.hpp"
#include "tapegrad/train/callbacks.hpp"
#include "tapegrad/train/checkpoint.hpp"
#include "tapegrad/train/early_stopping.hpp"
#include "tapegrad/train/files.hpp"
#include "tapegrad/train/fingerprint.hpp"
#include "tapegrad/train/loggers.hpp"
#include "tapegrad/train/messages.hpp"
#include "tapegrad/train/parallel.hpp"
#include "tapegrad/train/progress.hpp"
#include "tapegrad/train/resume.hpp"
#include "tapegrad/train/signals.hpp"
#include "tapegrad/train/svg.hpp"
#include "tapegrad/train/trainer.hpp"
#include "tapegrad/train/weight_average.hpp"
