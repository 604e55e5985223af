// A batch of numpy arrays checked (dtype, contiguity, rows) and turned into the program's
// BatchData; the stats buffer checked. Shared by the program and distributed bindings.
#pragma once
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <string>

#include "runtime/program.h"

namespace py = pybind11;

bc::BatchData batch_data(bc::Program& p, const py::list& xs, const py::object& ys, const py::object& sw,
                         const py::object& idx, size_t start, int count);
double* stats_buffer(py::array& stats, const bc::Program& p);
// "Input k contains NaN or inf (first at index (i, j, ...))", the index in the caller's array.
std::string nonfinite_message(const py::list& xs, const bc::NonFiniteInput& e);
