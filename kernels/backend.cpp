#include "kernels/backend.h"

#include "core/error.h"

namespace bs::kernels {

const Backend& cpu_backend() {
  static const Backend b{"cpu", &cpu_ops(), &cpu_grad_ops()};
  return b;
}

const Backend& ref_backend() {
  static const Backend b{"ref", &ref_ops(), &ref_grad_ops()};
  return b;
}

std::vector<std::string> backend_names() { return {"cpu", "ref"}; }

const Backend& backend_named(const std::string& name) {
  if (name == "cpu") return cpu_backend();
  if (name == "ref") return ref_backend();
  std::string have;
  for (const std::string& n : backend_names()) have += (have.empty() ? "" : ", ") + n;
  if (name == "cuda")
    throw Error("--device", "'cuda': this build has no CUDA backend (it has " + have + ")");
  throw Error("--device", "'" + name + "' is no device of this build (it has " + have + ")");
}

}  // namespace bs::kernels
