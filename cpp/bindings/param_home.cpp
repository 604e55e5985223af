// Weight cells (runtime/param_home.h): one home per weight, shared by every program that lowers
// it. Python's Weight holds a ParamCell; reads and writes cross in one locked call.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <memory>
#include <utility>
#include <vector>

#include "bindings/arrays.h"
#include "bindings/bindings.h"
#include "runtime/param_home.h"
#include "runtime/program.h"

namespace py = pybind11;
using bc::ParamCell;
using bc::Program;
using CellPtr = std::shared_ptr<ParamCell>;

namespace {

std::vector<ParamCell*> raw(const std::vector<CellPtr>& cells) {
  std::vector<ParamCell*> v;
  v.reserve(cells.size());
  for (const auto& c : cells) {
    if (!c) throw py::type_error("expected ParamCell objects, got None");
    v.push_back(c.get());
  }
  return v;
}

// values[i] as float32 data of exactly cells[i]'s size (the caller converts; nothing is copied here).
std::vector<const float*> checked_values(const std::vector<ParamCell*>& cells, const py::list& values) {
  if (values.size() != cells.size())
    throw py::value_error("write_cells needs one value per cell: got " + std::to_string(values.size()) +
                          " values for " + std::to_string(cells.size()) + " cells");
  std::vector<const float*> in;
  for (size_t i = 0; i < cells.size(); ++i) {
    py::array a = arrays::as_array(values[i], "a weight's value");
    in.push_back(arrays::checked<float>(a, "a weight's value"));
    if (static_cast<size_t>(a.size()) != cells[i]->size())
      throw py::value_error("value " + std::to_string(i) + " has " + std::to_string(a.size()) +
                            " entries, but its weight holds " + std::to_string(cells[i]->size()));
  }
  return in;
}

}  // namespace

void bind_param_home(py::module_& m) {
  py::class_<ParamCell, CellPtr>(m, "ParamCell",
                                 "The value of one float32 weight, shared by every program that lowers it.")
      .def(py::init([](const py::array& value) {
             const float* p = arrays::checked<float>(value, "a weight's value");
             return std::make_shared<ParamCell>(p, static_cast<size_t>(value.size()));
           }),
           py::arg("value"))
      .def_property_readonly("size", &ParamCell::size)
      .def_property_readonly("version", &ParamCell::version, "Changes whenever the value moves to another home.")
      .def("view", [](ParamCell& c) {
        ParamCell::Place place = [&c] {
          py::gil_scoped_release release;
          return c.place();
        }();
        auto* keep = new std::shared_ptr<void>(std::move(place.keep));
        py::capsule owner(keep, [](void* k) { delete static_cast<std::shared_ptr<void>*>(k); });
        return arrays::view(owner, place.data, c.size());
      }, "A writeable float32 view of the value where it lives now (its home keeps it alive).")
      .def("read", [](ParamCell& c) {
        py::array_t<float> out(static_cast<py::ssize_t>(c.size()));
        float* dst = out.mutable_data();
        py::gil_scoped_release release;
        bc::read_cells({&c}, {dst});
        return out;
      }, "A copy of the value, read under its home's lock.")
      .def("write", [](ParamCell& c, const py::array& value) {
        std::vector<ParamCell*> cells{&c};
        const std::vector<const float*> in = checked_values(cells, py::list(py::make_tuple(value)));
        py::gil_scoped_release release;
        bc::write_cells(cells, in);
      }, py::arg("value"), "Writes the value (float32, as many entries) under its home's lock.");

  m.def("read_cells", [](const std::vector<CellPtr>& cells) {
    const std::vector<ParamCell*> v = raw(cells);
    py::list out;
    std::vector<float*> dst;
    for (ParamCell* c : v) {
      py::array_t<float> a(static_cast<py::ssize_t>(c->size()));
      dst.push_back(a.mutable_data());
      out.append(a);
    }
    {
      py::gil_scoped_release release;
      bc::read_cells(v, dst);
    }
    return out;
  }, py::arg("cells"), "Copies of the cells' values, all read under one lock: one consistent set.");
  m.def("write_cells", [](const std::vector<CellPtr>& cells, const py::list& values) {
    const std::vector<ParamCell*> v = raw(cells);
    const std::vector<const float*> in = checked_values(v, values);
    py::gil_scoped_release release;
    bc::write_cells(v, in);
  }, py::arg("cells"), py::arg("values"),
     "Writes every cell's value under one lock: a concurrent step sees all the old values or all the new.");

  auto cls = py::reinterpret_borrow<py::class_<Program, std::shared_ptr<Program>>>(m.attr("Program"));
  cls.def("link_params", [](Program& p, const std::vector<std::pair<size_t, CellPtr>>& links) {
    py::gil_scoped_release release;
    p.link_params(links);
  }, py::arg("links"),
     "[(arena offset, ParamCell)]: each segment becomes the home of the cell's value (copied in); the "
     "program then shares it with every other program linking the cell.");
}
