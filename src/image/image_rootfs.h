// A job's image as its root: found in the store (fetched first as the pull policy says),
// its layers held against pruning for as long as the plan lives, its config's Env,
// WorkingDir and User carried along.
#pragma once

#include <string>

#include "image/rootfs.h"
#include "ociexec/images.h"

namespace ociexec::image {

Expected<RootfsPlan> image_rootfs(const std::string& reference, PullPolicy policy,
                                  const ImageOptions& options);

}  // namespace ociexec::image
