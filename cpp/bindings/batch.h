// The arrays of one fit / evaluate / predict call, checked once (dtype, contiguity, rows) and held
// by a BatchSource while the steps run batches of them by (idx, start, count): nothing about the
// arrays is checked per batch. Shared by the program and distributed bindings.
#pragma once
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <string>
#include <vector>

#include "runtime/program.h"

namespace py = pybind11;

class BatchSource {
 public:
  // xs: one array per model input; ys: a list of one array per target, or None; sw: (n,) or
  // None; outs: a list of one writeable array per model output (predict), or None. The arrays
  // themselves are held (not the lists, which the caller may change).
  BatchSource(const bc::Program& p, const py::list& xs, const py::object& ys, const py::object& sw,
              const py::object& outs);
  void set_outputs(const py::object& outs);  // predict's output arrays (rows as the inputs')
  size_t rows() const { return arrays_.n_rows; }

  // Batch rows idx[start .. start + count) (idx None: start .. start + count - 1) of p's arrays.
  bc::BatchData batch(const bc::Program& p, const py::object& idx, size_t start, int count) const;
  // The output arrays, checked to hold rows start .. start + count.
  const std::vector<float*>& outputs(const bc::Program& p, size_t start, int count) const;
  // "Input k contains NaN or inf (first at index (i, j, ...))", the index in the caller's array.
  std::string nonfinite_message(const bc::NonFiniteInput& e) const;

 private:
  void check_program(const bc::Program& p) const;
  const bc::Program* program_;  // kept alive by the binding (py::keep_alive)
  std::vector<py::array> inputs_, held_;  // every bound array, held: the pointers below point into them
  std::vector<py::array> outs_;
  bc::BatchArrays arrays_;
  std::vector<float*> outs_data_;
  size_t outs_rows_ = 0;
};

// The stats buffer of a step: a writeable float64 array of at least p.stats_size() values.
double* stats_buffer(py::array& stats, const bc::Program& p);

// add_recurrent / add_qrecurrent: T > 0 must match x's fixed shape (T, D); 0 means x's length is
// symbolic. The op reads T from x's resolved shape per call either way.
void check_timesteps(const bc::Program& p, const char* what, int x, int D, int T);
