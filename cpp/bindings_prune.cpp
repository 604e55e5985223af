// Bindings for magnitude pruning (prune.h): the mask kernel and a program's masks.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cmath>

#include "program.h"
#include "prune.h"

namespace py = pybind11;

namespace {

const float* f32_flat(const py::array& a, const char* what) {
  if (!py::isinstance<py::array_t<float>>(a) || !(a.flags() & py::array::c_style))
    throw py::value_error(std::string(what) + " must be a C-contiguous float32 array, got dtype " +
                          py::str(a.dtype()).cast<std::string>());
  return static_cast<const float*>(a.data());
}

void check_sparsity(double s) {
  if (!(s >= 0.0 && s < 1.0))
    throw py::value_error("sparsity must be in [0, 1), got " + py::repr(py::float_(s)).cast<std::string>());
}

}  // namespace

void bind_prune(py::module_& m) {
  // keep mask (uint8, same shape as w) pruning the `sparsity` fraction of smallest |w|
  m.def("prune_magnitude_mask", [](const py::array& w, double sparsity) {
    check_sparsity(sparsity);
    const float* src = f32_flat(w, "weights");
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
  });
  m.def("program_add_mask", [](bc::Program& p, size_t offset, bool from_nonzero) {
    p.add_mask(offset, from_nonzero);
  }, py::arg("program"), py::arg("offset"), py::arg("from_nonzero") = false);
  m.def("program_update_mask", [](bc::Program& p, size_t offset, double sparsity) {
    check_sparsity(sparsity);
    py::gil_scoped_release nogil;
    return p.update_mask(offset, sparsity);
  });
  m.def("program_set_mask", [](bc::Program& p, size_t offset, const py::array& keep) {
    if (!py::isinstance<py::array_t<uint8_t>>(keep) || !(keep.flags() & py::array::c_style))
      throw py::value_error("a mask must be a C-contiguous uint8 array, got dtype " +
                            py::str(keep.dtype()).cast<std::string>());
    p.set_mask(offset, static_cast<const uint8_t*>(keep.data()), static_cast<size_t>(keep.size()));
  });
  m.def("program_mask", [](bc::Program& p, size_t offset) {
    auto v = p.mask(offset);
    py::array_t<uint8_t> out(static_cast<py::ssize_t>(v.size()));
    std::copy(v.begin(), v.end(), out.mutable_data());
    return out;
  });
  m.def("program_clear_masks", [](bc::Program& p) { p.clear_masks(); });
}
