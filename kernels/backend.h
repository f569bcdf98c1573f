// A backend: the forward and backward op tables one device offers, chosen once by the caller
// (the program's --device) and handed down to the transformer, the generator, the trainer and
// evaluation, so no layer below names a device. "cpu" is the optimised CPU set (Eigen +
// OpenBLAS, threaded, packed products for inference); "ref" the scalar reference, for tests.
#pragma once
#include <string>
#include <vector>

#include "kernels/backward.h"
#include "kernels/kernels.h"

namespace bs::kernels {

struct Backend {
  const char* name;
  const Ops* ops;
  const GradOps* grad;
};

const Backend& cpu_backend();
const Backend& ref_backend();

// The backends this build has, by name ("cpu", "ref").
std::vector<std::string> backend_names();
// The backend called `name`. Throws bs::Error naming the device and what this build offers when
// there is none (e.g. "cuda" in a build without CUDA).
const Backend& backend_named(const std::string& name);

}  // namespace bs::kernels
