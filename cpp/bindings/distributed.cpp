// Bindings for data-parallel training (python/bigcore/distributed): a training step split
// around the all-reduce of the gradient arena (Program::compute_gradients / apply_update).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include "bindings/batch.h"
#include "bindings/bindings.h"
#include "runtime/program.h"

namespace py = pybind11;
using bc::Program;

void bind_distributed(py::module_& m) {
  auto cls = py::reinterpret_borrow<py::class_<Program, std::shared_ptr<Program>>>(m.attr("Program"));
  cls.def("compute_gradients", [](Program& p, const BatchSource& src, const py::object& idx, size_t start, int count,
                                  uint64_t seed, uint64_t step, uint64_t row0, float grad_scale, py::array stats) {
        bc::BatchData d = src.batch(p, idx, start, count);
        double* s = stats_buffer(stats, p);
        py::gil_scoped_release release;
        p.compute_gradients(d, seed, step, row0, grad_scale, s);
      }, py::arg("src"), py::arg("idx"), py::arg("start"), py::arg("count"), py::arg("seed"), py::arg("step"),
      py::arg("row0"), py::arg("grad_scale"), py::arg("stats"),
      "Forward, loss, metrics and backward of one batch; grads() then holds its gradient x grad_scale.");
  cls.def("apply_update", [](Program& p, double lr, uint64_t step, float grad_scale) {
        py::gil_scoped_release release;
        p.apply_update(lr, step, grad_scale);
      }, py::arg("lr"), py::arg("step"), py::arg("grad_scale"),
      "grads() *= grad_scale, then regularizers, clipping, the optimizer pass at rate lr and constraints.");
}
