// Bindings for magnitude pruning (kernels/prune): the mask kernel and a program's masks.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include "bindings/arrays.h"
#include "bindings/bindings.h"
#include "kernels/prune/prune.h"
#include "runtime/program.h"

namespace py = pybind11;

namespace {

void check_sparsity(double s) {
  if (!(s >= 0.0 && s < 1.0))
    throw py::value_error("sparsity must be in [0, 1), got " + py::repr(py::float_(s)).cast<std::string>());
}

}  // namespace

void bind_prune(py::module_& m) {
  // keep mask (uint8, same shape as w) pruning the `sparsity` fraction of smallest |w|
  m.def("prune_magnitude_mask", [](const py::array& w, double sparsity) {
    check_sparsity(sparsity);
    const float* src = arrays::checked<float>(w, "weights");
    const size_t n = static_cast<size_t>(w.size());
    py::array_t<uint8_t> keep(std::vector<py::ssize_t>(w.shape(), w.shape() + w.ndim()));
    uint8_t* dst = keep.mutable_data();
    {
      py::gil_scoped_release nogil;
      bc::prune_magnitude_mask(dst, src, n, bc::prune_count(n, sparsity));
    }
    return keep;
  }, py::arg("w"), py::arg("sparsity"));
  m.def("prune_count", [](size_t n, double sparsity) {
    check_sparsity(sparsity);
    return bc::prune_count(n, sparsity);
  }, py::arg("n"), py::arg("sparsity"));
  m.def("program_add_mask", [](bc::Program& p, size_t offset, bool from_nonzero) {
    p.add_mask(offset, from_nonzero);
  }, py::arg("program"), py::arg("offset"), py::arg("from_nonzero") = false);
  m.def("program_update_mask", [](bc::Program& p, size_t offset, double sparsity) {
    check_sparsity(sparsity);
    py::gil_scoped_release nogil;
    return p.update_mask(offset, sparsity);
  }, py::arg("program"), py::arg("offset"), py::arg("sparsity"));
  m.def("program_set_mask", [](bc::Program& p, size_t offset, const py::array& keep) {
    p.set_mask(offset, arrays::checked<uint8_t>(keep, "a mask"), static_cast<size_t>(keep.size()));
  }, py::arg("program"), py::arg("offset"), py::arg("keep"));
  m.def("program_mask", [](bc::Program& p, size_t offset) {
    auto v = p.mask(offset);
    py::array_t<uint8_t> out(static_cast<py::ssize_t>(v.size()));
    std::copy(v.begin(), v.end(), out.mutable_data());
    return out;
  }, py::arg("program"), py::arg("offset"));
  m.def("program_clear_masks", [](bc::Program& p) { p.clear_masks(); }, py::arg("program"));
}
