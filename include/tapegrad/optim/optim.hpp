// tg::optim: optimizers, gradient clipping and learning-rate schedules in one include.
#pragma once

#include "tapegrad/optim/clip.hpp"
#include "tapegrad/optim/lr_scheduler.hpp"
#include "tapegrad/optim/optimizer.hpp"
#include "tapegrad/optim/optimizers.hpp"
