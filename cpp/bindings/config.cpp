// Run-time settings: threads, the CPU paths of the kernel families, what the CPU and BLAS are.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <string>

#include "bindings/bindings.h"
#include "isa/isa.h"
#include "kernels/gemm/gemm.h"

namespace py = pybind11;

void bind_config(py::module_& m) {
  m.def("set_num_threads", [](int n) {
    if (n < 1) throw py::value_error("set_num_threads expects n >= 1, got " + std::to_string(n));
    bc::set_num_threads(n);
  }, py::arg("n"));
  m.def("get_num_threads", &bc::get_num_threads);
  m.def("cpu_features", &bc::isa::feature_names, "The CPU's features, space-separated.");
  m.def("set_isa", &bc::isa::set_isa, py::arg("name"),
        "Gives every kernel family its best path within the name's features (cpp/isa/isa.h has the table).");
  m.def("isa", &bc::isa::current, "The set_isa name in force.");
  m.def("best_isa", &bc::isa::best, "The name in force at load: the highest this CPU runs.");
  m.def("isa_names", &bc::isa::names, "Every name set_isa accepts, lowest first.");
  m.def("isa_supported", &bc::isa::supported, py::arg("name"), "Whether this CPU runs the name's features.");
  m.def("isa_paths", &bc::isa::paths, "(family, path in use) for every kernel family.");
  m.def("blas_info", [] { return std::string(bc::blas_info()); });
}
