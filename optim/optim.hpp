// tg::optim: optimizers, gradient clipping and learning-rate schedules in one include.
#pragma once

#include "optim/clip.hpp"
#include "optim/lr_scheduler.hpp"
#include "optim/optimizer.hpp"
#include "optim/optimizers.hpp"
