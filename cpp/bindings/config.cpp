// Run-time settings: threads, the CPU paths of the kernel families, what the CPU and BLAS are.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <string>

#include "bindings/bindings.h"
#include "core/threads.h"
#include "isa/isa.h"
#include "kernels/gemm/gemm.h"

namespace py = pybind11;

void bind_config(py::module_& m) {
  // Any Python object: the checks, not pybind11's overload resolution, say what was wrong.
  m.def("set_num_threads", [](const py::object& n) {
    if (!py::isinstance<py::int_>(n) || py::isinstance<py::bool_>(n))
      throw py::type_error("set_num_threads expects an int, got " + py::repr(n).cast<std::string>() + " (" +
                           std::string(Py_TYPE(n.ptr())->tp_name) + ")");
    const int most = bc::max_threads();
    if (n < py::int_(1) || n > py::int_(most))
      throw py::value_error("set_num_threads expects an int n with n >= 1 and n <= " + std::to_string(most) +
                            " (4 per CPU, at least 64), got " + py::repr(n).cast<std::string>());
    bc::set_num_threads(n.cast<int>());  // RuntimeError in a forked child asked for more than 1
  }, py::arg("n"));
  m.def("get_num_threads", &bc::get_num_threads);
  m.def("max_threads", &bc::max_threads, "The most set_num_threads accepts.");
  m.def("forked_single_threaded", &bc::forked_single_threaded,
        "True in a child forked after bigcore may have started threads: it runs single-threaded.");
  m.def("cpu_features", &bc::isa::feature_names, "The CPU's features, space-separated.");
  m.def("set_isa", &bc::isa::set_isa, py::arg("name"),
        "Gives every kernel family its best path within the name's features (cpp/isa/isa.h has the table).");
  m.def("isa", &bc::isa::current, "The set_isa name in force.");
  m.def("best_isa", &bc::isa::best, "The name in force at load: the highest this CPU runs.");
  m.def("isa_names", &bc::isa::names, "Every name set_isa accepts, lowest first.");
  m.def("isa_supported", &bc::isa::supported, py::arg("name"), "Whether this CPU runs the name's features.");
  m.def("isa_paths", &bc::isa::paths, "(family, path in use) for every kernel family.");
  m.def("blas_info", [] { return std::string(bc::blas_info()); });
  m.def("set_gemm_mode", [](const std::string& mode) {
    if (mode != "own" && mode != "blas")
      throw py::value_error("set_gemm_mode: expected 'own' or 'blas', received '" + mode + "'");
    bc::set_gemm_mode(mode == "blas" ? 1 : 0);
  }, py::arg("mode"), "'own': the project's FMA kernel wherever it applies (the default); 'blas': OpenBLAS for every product (benchmarks).");
}
