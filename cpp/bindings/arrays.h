// Every numpy array check of the bindings, written once. An array is never converted: a silent
// copy would lose the writes to an output and cost a copy per call. Each check throws ValueError
// "<what> must be a <ndim>-D C-contiguous <dtype> array ..., got dtype <d> and shape <s>".
#pragma once
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <string>
#include <vector>

namespace arrays {

namespace py = pybind11;

std::string shape_str(const py::array& a);  // "(2, 3)", "(4,)"
std::string shape_str(const std::vector<py::ssize_t>& shape);
inline int dim(const py::array& a, int i) { return static_cast<int>(a.shape(i)); }

template <class T> constexpr const char* dtype_name();
template <> constexpr const char* dtype_name<float>() { return "float32"; }
template <> constexpr const char* dtype_name<double>() { return "float64"; }
template <> constexpr const char* dtype_name<int8_t>() { return "int8"; }
template <> constexpr const char* dtype_name<uint8_t>() { return "uint8"; }
template <> constexpr const char* dtype_name<int64_t>() { return "int64"; }

// Throws the ValueError above; `expected` is e.g. "a 2-D C-contiguous int8 array".
[[noreturn]] void reject(const py::array& a, const std::string& what, const std::string& expected);

// A C-contiguous array of T with `ndim` dimensions (-1: any).
template <class T>
const T* checked(const py::array& a, const std::string& what, int ndim = -1) {
  if (!py::isinstance<py::array_t<T>>(a) || !(a.flags() & py::array::c_style) || (ndim >= 0 && a.ndim() != ndim))
    reject(a, what, std::string("a ") + (ndim >= 0 ? std::to_string(ndim) + "-D " : "") + "C-contiguous " +
                        dtype_name<T>() + " array");
  return static_cast<const T*>(a.data());
}

// The same with this exact shape: "<what> must have shape (3,), got (4,)".
template <class T>
const T* shaped(const py::array& a, const std::string& what, const std::vector<py::ssize_t>& shape) {
  const T* p = checked<T>(a, what, static_cast<int>(shape.size()));
  for (size_t i = 0; i < shape.size(); ++i)
    if (a.shape(i) != shape[i])
      throw py::value_error(what + " must have shape " + shape_str(shape) + ", got " + shape_str(a));
  return p;
}

template <class T>
T* writeable(py::array& a, const std::string& what, int ndim = -1) {
  checked<T>(a, what, ndim);
  if (!a.writeable()) throw py::value_error(what + " must be writeable");
  return static_cast<T*>(a.mutable_data());
}

// float32 samples: rows = the first axis (1 for a 0-D array); per_sample > 0 also checks that
// every row holds that many values.
const float* samples(const py::array& a, const std::string& what, size_t* rows, size_t per_sample = 0);
float* samples_mut(py::array& a, const std::string& what, size_t* rows, size_t per_sample = 0);

// h itself when it is a numpy array, never a converted copy (whose memory would die with the
// temporary while native code still points at it).
py::array as_array(py::handle h, const std::string& what);

// An optional (n,) float32 vector (a bias): null for None.
const float* optional_vector(const py::object& v, const std::string& what, py::ssize_t n);

// A float32 view of native memory that keeps `owner` alive.
py::array_t<float> view(py::handle owner, float* data, size_t n);

// A loss's own numbers (losses.py: native_param): one number or a sequence of them.
std::vector<float> numbers(py::handle h, const std::string& what);

}  // namespace arrays
