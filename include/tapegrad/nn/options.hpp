// TG_ARG, the options idiom of every module (defined with the ops' options in
// <tapegrad/autograd/options.hpp>, since losses' options are ops' options too).
#pragma once

#include "tapegrad/autograd/options.hpp"
