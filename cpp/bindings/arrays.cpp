#include "bindings/arrays.h"

namespace arrays {

std::string shape_str(const std::vector<py::ssize_t>& shape) {
  std::string s = "(";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + (shape.size() == 1 ? ",)" : ")");
}

std::string shape_str(const py::array& a) { return shape_str(std::vector<py::ssize_t>(a.shape(), a.shape() + a.ndim())); }

void reject(const py::array& a, const std::string& what, const std::string& expected) {
  throw py::value_error(what + " must be " + expected + ", got dtype " + py::str(a.dtype()).cast<std::string>() +
                        " and shape " + shape_str(a));
}

const float* samples(const py::array& a, const std::string& what, size_t* rows, size_t per_sample) {
  const float* p = checked<float>(a, what);
  const size_t r = a.ndim() ? static_cast<size_t>(a.shape(0)) : 1;
  if (per_sample && r * per_sample != static_cast<size_t>(a.size()))
    throw py::value_error(what + " must have " + std::to_string(per_sample) + " values per sample, got shape " +
                          shape_str(a));
  if (rows) *rows = r;
  return p;
}

float* samples_mut(py::array& a, const std::string& what, size_t* rows, size_t per_sample) {
  if (!a.writeable()) throw py::value_error(what + " must be writeable");
  samples(a, what, rows, per_sample);
  return static_cast<float*>(a.mutable_data());
}

py::array as_array(py::handle h, const std::string& what) {
  if (!py::isinstance<py::array>(h))
    throw py::value_error(what + " must be a numpy array, got " + std::string(Py_TYPE(h.ptr())->tp_name));
  return py::reinterpret_borrow<py::array>(h);
}

const float* optional_vector(const py::object& v, const std::string& what, py::ssize_t n) {
  if (v.is_none()) return nullptr;
  return shaped<float>(as_array(v, what), what, {n});
}

py::array_t<float> view(py::handle owner, float* data, size_t n) {
  return py::array_t<float>({static_cast<py::ssize_t>(n)}, {sizeof(float)}, data, owner);
}

std::vector<float> numbers(py::handle h, const std::string& what) {
  if (py::isinstance<py::float_>(h) || py::isinstance<py::int_>(h)) return {h.cast<float>()};
  if (!py::isinstance<py::sequence>(h) || py::isinstance<py::str>(h))
    throw py::value_error(what + " must be a number or a sequence of numbers, got " +
                          std::string(Py_TYPE(h.ptr())->tp_name));
  std::vector<float> v;
  for (auto x : py::reinterpret_borrow<py::sequence>(h)) v.push_back(x.cast<float>());
  return v;
}

}  // namespace arrays
