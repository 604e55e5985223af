// Run-time shapes of the Program (runtime/shapes.h): symbols, shaped and batch-less tensors, weights
// read as tensors. A shape crosses as one int per non-batch axis: a length >= 1, or ~s (= -s - 1)
// for symbol s.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "bindings/bindings.h"
#include "runtime/program.h"

namespace py = pybind11;
using bc::Program;

namespace {

std::vector<bc::Dim> to_dims(const Program& p, const std::vector<int64_t>& shape) {
  std::vector<bc::Dim> dims;
  for (int64_t v : shape) {
    if (v >= 0) {
      if (v == 0) throw py::value_error("a tensor's dimensions must be >= 1 (or ~symbol), got 0");
      dims.push_back({v, -1});
    } else {
      const int64_t s = -v - 1;
      if (s >= p.symbols().size())
        throw py::value_error("shape names symbol " + std::to_string(s) + ", but the program has " +
                              std::to_string(p.symbols().size()));
      dims.push_back({1, static_cast<int>(s)});
    }
  }
  return dims;
}

py::tuple to_tuple(const bc::Shape& s) {
  py::tuple t(s.nd);
  for (int i = 0; i < s.nd; ++i) t[i] = s.d[i];
  return t;
}

const std::vector<std::pair<std::string, int>> kSymKinds = {
    {"affine", bc::SYM_AFFINE}, {"sum", bc::SYM_SUM}, {"prod", bc::SYM_PROD},
    {"broadcast", bc::SYM_BCAST}, {"slice", bc::SYM_SLICE}};

}  // namespace

void bind_shapes(py::module_& m) {
  auto cls = py::reinterpret_borrow<py::class_<Program, std::shared_ptr<Program>>>(m.attr("Program"));
  cls.def("add_symbol", &Program::add_symbol, py::arg("name") = "",
          "A new input symbol (a length that the model input arrays give per call); returns its id s. "
          "A shape names it as ~s.");
  cls.def("add_derived_symbol", [](Program& p, const std::string& kind, const std::vector<int>& syms,
                                   const std::vector<py::object>& consts, const std::string& name) {
        int k = -1;
        for (const auto& e : kSymKinds)
          if (e.first == kind) k = e.second;
        if (k < 0) throw py::value_error("unknown derived symbol kind '" + kind + "' (affine, sum, prod, broadcast, slice)");
        std::vector<int64_t> c;
        for (const auto& o : consts) c.push_back(o.is_none() ? bc::kNone : o.cast<int64_t>());
        return p.add_derived_symbol(k, syms, c, name);
      }, py::arg("kind"), py::arg("syms"), py::arg("consts") = std::vector<py::object>(), py::arg("name") = "",
      "A symbol computed from earlier ones: 'affine' [s], [a, b, d] -> (a*s + b) // d; 'sum' [s, t]; 'prod' [s, t]; "
      "'broadcast' [s, t] (equal, or one is 1); 'slice' [s], [start, stop, step] -> len(range(*slice(...).indices(s))), "
      "None allowed for start/stop.");
  cls.def_property_readonly("n_symbols", [](const Program& p) { return p.symbols().size(); });
  cls.def("add_shaped_tensor", [](Program& p, const std::vector<int64_t>& shape, bool is_input, bool batched) {
        return p.add_shaped_tensor(to_dims(p, shape), is_input, batched);
      }, py::arg("shape"), py::arg("is_input") = false, py::arg("batched") = true,
      "A tensor with this shape of its non-batch axes (a length >= 1 or ~s per axis); batched=False: no batch axis.");
  cls.def("add_target_tensor", [](Program& p, int target, const std::vector<int64_t>& shape) {
        return p.add_target_tensor(target, to_dims(p, shape));
      }, py::arg("target"), py::arg("shape"),
      "A batched tensor (non-batch axes as add_shaped_tensor takes them) holding the batch's target array `target` "
      "in fit and evaluate: a custom loss or metric reads it (ops of mode 3).");
  cls.def("clear_target_tensors", &Program::clear_target_tensors,
          "Forgets the target tensors (a new compile retires the traced losses that read them).");
  cls.def("add_view_tensor", [](Program& p, int base, const std::vector<int64_t>& shape) {
        return p.add_view_tensor(base, to_dims(p, shape));
      }, py::arg("base"), py::arg("shape"),
      "Tensor `base` seen with another shape of its non-batch axes (as add_shaped_tensor takes them), the same size: "
      "no op and no copy; ops reading it see this shape, its values and gradient are base's.");
  cls.def("view_of", [](const Program& p, int t) {
        if (t < 0 || t >= p.n_tensors()) throw py::value_error("unknown tensor " + std::to_string(t));
        return p.view_of(t);
      }, py::arg("tensor"), "The tensor a view (add_view_tensor) is of, or -1.");
  cls.def_property_readonly("n_tensors", &Program::n_tensors);
  cls.def("add_weight_tensor", &Program::add_weight_tensor, py::arg("offset"), py::arg("shape"),
          py::arg("foreign") = false,
          "The weight at arena offset `offset` (from add_param) as a batch-less tensor: read in place, its gradient "
          "added into the gradient arena. foreign: an offset of another program's arena (a TimeDistributed's inner "
          "program: its ops run over the outer arena).");
  cls.def("resolve_symbols", &Program::resolve_symbols, py::arg("input_shapes"),
          "Every symbol's value for model inputs with these non-batch shapes (one per input).");
  cls.def("tensor_shape", [](const Program& p, int t, const py::object& symbols) {
        if (t < 0 || t >= p.n_tensors()) throw py::value_error("unknown tensor " + std::to_string(t));
        std::vector<int64_t> v = symbols.is_none() ? std::vector<int64_t>() : symbols.cast<std::vector<int64_t>>();
        bool symbolic = false;
        for (const auto& d : p.dims(t)) symbolic = symbolic || d.sym >= 0;
        if (!symbolic) v.assign(p.symbols().size(), 0);
        else if (symbols.is_none()) throw py::value_error("tensor " + std::to_string(t) + " has symbolic dimensions: pass symbols=");
        return to_tuple(p.resolved_shape(t, v));
      }, py::arg("tensor"), py::arg("symbols") = py::none(),
      "The non-batch shape of a tensor for these symbol values (resolve_symbols); a template of constants needs none.");
  cls.def("is_batched", &Program::batched, py::arg("tensor"));
}
