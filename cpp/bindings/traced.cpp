// What traced custom layers need of the Program beyond the primitives (ops/traced.h): loss terms,
// op modes (training / inference only) and the select that joins the two traces.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cxxabi.h>

#include <cstdlib>
#include <memory>
#include <string>
#include <typeinfo>
#include <vector>

#include "bindings/bindings.h"
#include "ops/prim.h"
#include "ops/traced.h"
#include "runtime/program.h"

namespace py = pybind11;
using bc::Program;

namespace {

// What op i is: "prim:<kind>" for a primitive, else its C++ class without the namespace ("DenseOp"),
// so tests can check what a traced layer lowered to (fusion).
std::string op_kind(const bc::Op& op) {
  if (auto* p = dynamic_cast<const bc::PrimOp*>(&op)) return "prim:" + p->kind();
  int status = 0;
  char* d = abi::__cxa_demangle(typeid(op).name(), nullptr, nullptr, &status);
  std::string name = status == 0 && d ? d : typeid(op).name();
  std::free(d);
  const size_t colon = name.rfind("::");
  return colon == std::string::npos ? name : name.substr(colon + 2);
}

// A weight's arena segment [offset, offset + n) given through the binding lies inside the arena.
void check_segment(const Program& p, size_t offset, size_t n, const char* what) {
  BC_CHECK(n <= p.param_count() && offset <= p.param_count() - n,
           std::string(what) + ": the segment lies outside the parameter arena");
}

}  // namespace

void bind_traced(py::module_& m) {
  auto cls = py::reinterpret_borrow<py::class_<Program>>(m.attr("Program"));
  cls.def("add_loss_term", [](Program& p, int x) { p.add_op(std::make_unique<bc::LossTermOp>(x)); },
          py::arg("x"), "Adds sum(x) to the training loss (add_loss); x's gradient is 1.");
  cls.def("add_select_training", [](Program& p, int a, int b, int out) {
        p.add_op(std::make_unique<bc::SelectTrainingOp>(a, b, out));
      }, py::arg("a"), py::arg("b"), py::arg("out"), "out = a in training, b in inference.");
  cls.def("add_assign_weight", [](Program& p, int v, int out, size_t offset, size_t n, int mode) {
        check_segment(p, offset, n, "add_assign_weight");
        p.add_op(std::make_unique<bc::AssignWeightOp>(v, out, offset, n, mode));
      }, py::arg("value"), py::arg("out"), py::arg("offset"), py::arg("n"), py::arg("mode"),
      "The weight at arena [offset, offset + n) = value (mode 0), += value (1) or -= value (2) in each forward; "
      "out = the new value.");
  cls.def("add_weight_rows", [](Program& p, int out, size_t offset, size_t n) {
        check_segment(p, offset, n, "add_weight_rows");
        p.add_op(std::make_unique<bc::WeightRowsOp>(out, offset, n));
      }, py::arg("out"), py::arg("offset"), py::arg("n"),
      "out (batch rows) = the weight at arena [offset, offset + n) in each forward; the batch must fill it.");
  cls.def("last_loss_terms", [](const Program& p) { return p.last_loss_terms(); },
          "What each add_loss term and activity regularizer added to the loss in the last forward, in op order.");
  cls.def("op_kinds", [](const Program& p) {
        std::vector<std::string> out;
        for (int i = 0; i < static_cast<int>(p.n_ops()); ++i) out.push_back(op_kind(p.op(i)));
        return out;
      }, "Each op's kind in program order: 'prim:<kind>' for a primitive, else its class ('DenseOp').");
  cls.def("set_op_mode", &Program::set_op_mode, py::arg("start"), py::arg("end"), py::arg("mode"),
          "Ops [start, end) run always (0), in training only (1), in inference only (2) or where the batch has "
          "targets (3: fit and evaluate, not predict), or never (4: retired).");
}
