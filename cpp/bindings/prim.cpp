// Primitives (ops/prim.h): Program.add_prim, and prim_forward / prim_backward running the very
// same ops on numpy arrays. Attributes cross as a dict: bool, int, float, str, None, a (nested)
// list of ints (None allowed) or of numbers, or a numpy array (flattened).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "bindings/bindings.h"
#include "ops/prim.h"
#include "runtime/program.h"

namespace py = pybind11;
using bc::Program;

namespace {

bool is_int(const py::handle& o) {  // Python and NumPy integers (an array has __index__ too)
  return py::isinstance<py::int_>(o) ||
         (!py::isinstance<py::float_>(o) && !py::isinstance<py::array>(o) && py::hasattr(o, "__index__"));
}

int64_t as_int(const py::handle& o) { return py::int_(py::reinterpret_borrow<py::object>(o)).cast<int64_t>(); }
double as_float(const py::handle& o) { return py::float_(py::reinterpret_borrow<py::object>(o)).cast<double>(); }

void flatten(const py::handle& o, std::vector<py::handle>& out) {
  if (py::isinstance<py::list>(o) || py::isinstance<py::tuple>(o)) {
    for (auto e : o) flatten(e, out);
  } else {
    out.push_back(o);
  }
}

bc::Attr to_attr(const std::string& kind, const std::string& key, const py::handle& o) {
  bc::Attr a;
  const std::string where = "prim '" + kind + "': attribute '" + key + "'";
  if (o.is_none()) return a;
  if (py::isinstance<py::str>(o)) {
    a.type = bc::Attr::STR;
    a.s = o.cast<std::string>();
  } else if (py::isinstance<py::bool_>(o) || is_int(o)) {
    a.type = bc::Attr::INT;
    a.i = py::isinstance<py::bool_>(o) ? (o.cast<bool>() ? 1 : 0) : as_int(o);
  } else if (py::isinstance<py::array>(o)) {
    py::array arr = py::reinterpret_borrow<py::array>(o);
    if (arr.dtype().kind() == 'i' || arr.dtype().kind() == 'u' || arr.dtype().kind() == 'b') {
      auto v = py::array_t<int64_t, py::array::c_style | py::array::forcecast>::ensure(arr);
      a.type = bc::Attr::INTS;
      a.ints.assign(v.data(), v.data() + v.size());
    } else {
      auto v = py::array_t<double, py::array::c_style | py::array::forcecast>::ensure(arr);
      if (!v) throw py::value_error(where + " must be numeric, got an array of dtype " + py::str(arr.dtype()).cast<std::string>());
      a.type = bc::Attr::FLOATS;
      a.floats.assign(v.data(), v.data() + v.size());
    }
  } else if (py::isinstance<py::list>(o) || py::isinstance<py::tuple>(o)) {
    std::vector<py::handle> items;
    flatten(o, items);
    bool ints = true;
    for (const auto& e : items) ints = ints && (e.is_none() || py::isinstance<py::bool_>(e) || is_int(e));
    if (ints) {
      a.type = bc::Attr::INTS;
      for (const auto& e : items) a.ints.push_back(e.is_none() ? bc::kNone : as_int(e));
    } else {
      a.type = bc::Attr::FLOATS;
      for (const auto& e : items) {
        if (e.is_none() || !py::hasattr(e, "__float__")) throw py::value_error(where + " must be a list of ints or of numbers");
        a.floats.push_back(as_float(e));
      }
    }
  } else if (py::hasattr(o, "__float__")) {
    a.type = bc::Attr::FLOAT;
    a.f = as_float(o);
  } else {
    throw py::value_error(where + " has a type bigcore does not take: " + std::string(Py_TYPE(o.ptr())->tp_name));
  }
  return a;
}

bc::Attrs to_attrs(const std::string& kind, const py::dict& d) {
  bc::Attrs a(kind);
  for (auto item : d) {
    if (!py::isinstance<py::str>(item.first)) throw py::value_error("prim '" + kind + "': attribute names are strings");
    const std::string key = item.first.cast<std::string>();
    a.set(key, to_attr(kind, key, item.second));
  }
  return a;
}

std::vector<bc::HostArray> to_host(const std::string& kind, const py::list& arrays, const std::string& what) {
  std::vector<bc::HostArray> v;
  for (size_t k = 0; k < arrays.size(); ++k) {
    auto a = py::array_t<float, py::array::c_style | py::array::forcecast>::ensure(arrays[k]);
    if (!a) throw py::value_error("prim '" + kind + "': " + what + " " + std::to_string(k) + " is not numeric");
    if (a.ndim() > bc::kMaxDims)
      throw py::value_error("prim '" + kind + "': " + what + " " + std::to_string(k) + " has more than " +
                            std::to_string(bc::kMaxDims) + " axes");
    bc::HostArray h;
    h.shape.nd = static_cast<int>(a.ndim());
    for (int i = 0; i < h.shape.nd; ++i) h.shape.d[i] = a.shape(i);
    h.data.assign(a.data(), a.data() + a.size());
    v.push_back(std::move(h));
  }
  return v;
}

py::list to_numpy(std::vector<bc::HostArray>&& v) {
  py::list out;
  for (auto& h : v) {
    std::vector<py::ssize_t> shape(h.shape.d, h.shape.d + h.shape.nd);
    py::array_t<float> a(shape);
    std::memcpy(a.mutable_data(), h.data.data(), h.data.size() * sizeof(float));
    out.append(a);
  }
  return out;
}

}  // namespace

void bind_prim(py::module_& m) {
  auto cls = py::reinterpret_borrow<py::class_<Program, std::shared_ptr<Program>>>(m.attr("Program"));
  cls.def("add_prim", [](Program& p, const std::string& kind, const std::vector<int>& inputs,
                         const std::vector<int>& outputs, const py::dict& attrs) {
        bc::Attrs a = to_attrs(kind, attrs);
        auto op = bc::make_prim(kind, a, static_cast<int>(inputs.size()), static_cast<int>(outputs.size()));
        auto known = [&](int t) { return t >= 0 && t < p.n_tensors(); };
        for (int t : inputs)
          if (!known(t)) throw py::value_error("prim '" + kind + "': input names an unknown tensor " + std::to_string(t));
        for (size_t j = 0; j < outputs.size(); ++j) {
          const int t = outputs[j];
          if (!known(t)) throw py::value_error("prim '" + kind + "': output names an unknown tensor " + std::to_string(t));
          if (p.is_input(t) || p.is_weight(t))
            throw py::value_error("prim '" + kind + "': output " + std::to_string(j) + " is a model input or a weight");
          for (int i : inputs)
            if (i == t) throw py::value_error("prim '" + kind + "': a tensor cannot be both input and output");
          for (size_t q = 0; q < j; ++q)
            if (outputs[q] == t) throw py::value_error("prim '" + kind + "': an output is named twice");
        }
        std::vector<bc::Shape> ins, outs;
        for (int t : inputs) ins.push_back(p.probe_shape(t));
        for (int t : outputs) outs.push_back(p.probe_shape(t));
        op->check(ins, outs);  // the build-time shape check (shapes at their probe values)
        op->in = inputs;
        op->out = outputs;
        p.add_op(std::move(op));
      }, py::arg("kind"), py::arg("inputs"), py::arg("outputs"), py::arg("attrs") = py::dict(),
      "Adds primitive `kind` (see prim_kinds()) reading tensors `inputs` and writing `outputs`; attrs as the kind "
      "takes them. Unknown kinds or attrs, and output tensors whose shapes the kind would not produce, raise ValueError.");
  m.def("prim_forward", [](const std::string& kind, const py::dict& attrs, const py::list& arrays) {
        bc::Attrs a = to_attrs(kind, attrs);
        std::vector<bc::HostArray> ins = to_host(kind, arrays, "input");
        std::vector<bc::HostArray> outs;
        {
          py::gil_scoped_release release;
          outs = bc::prim_forward(kind, a, ins);
        }
        return to_numpy(std::move(outs));
      }, py::arg("kind"), py::arg("attrs"), py::arg("arrays"),
      "Runs primitive `kind` on numpy arrays (converted to float32) with the program's kernels; returns its outputs.");
  m.def("prim_backward", [](const std::string& kind, const py::dict& attrs, const py::list& arrays,
                            const py::list& grads) {
        bc::Attrs a = to_attrs(kind, attrs);
        std::vector<bc::HostArray> ins = to_host(kind, arrays, "input"), gs = to_host(kind, grads, "gradient");
        std::vector<bc::HostArray> out;
        {
          py::gil_scoped_release release;
          out = bc::prim_backward(kind, a, ins, gs);
        }
        return to_numpy(std::move(out));
      }, py::arg("kind"), py::arg("attrs"), py::arg("arrays"), py::arg("grads"),
      "The gradients of primitive `kind`'s inputs for these output gradients (zeros where the kind has none).");
  m.def("prim_kinds", &bc::prim_kinds, "Every primitive kind add_prim / prim_forward take.");
}
