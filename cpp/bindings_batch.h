// What bindings.cpp shares with the bindings_<topic>.cpp files that run batches: numpy arrays
// checked (dtype, contiguity, rows) and turned into a BatchData, and the stats buffer checked.
#pragma once
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include "program.h"

bc::BatchData bind_batch(bc::Program& p, const pybind11::list& xs, const pybind11::object& ys,
                         const pybind11::object& sw, const pybind11::object& idx, size_t start, int count);
double* bind_stats(pybind11::array& stats, const bc::Program& p);
