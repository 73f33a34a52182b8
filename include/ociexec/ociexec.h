// Umbrella header of the ociexec library.
#pragma once

#include "ociexec/error.h"
#include "ociexec/executor.h"
#include "ociexec/images.h"
#include "ociexec/options.h"
#include "ociexec/result.h"
