#include "bindings/batch.h"

#include <vector>

#include "bindings/arrays.h"

bc::BatchData batch_data(bc::Program& p, const py::list& xs, const py::object& ys, const py::object& sw,
                         const py::object& idx, size_t start, int count) {
  bc::BatchData d;
  d.start = start;
  d.count = count;
  const auto& in = p.inputs();
  if (xs.size() != in.size())
    throw py::value_error("the model expects " + std::to_string(in.size()) + " input arrays, got " +
                          std::to_string(xs.size()));
  for (size_t k = 0; k < in.size(); ++k) {
    size_t rows;
    d.x.push_back(arrays::samples(arrays::as_array(xs[k], "input"), "input", &rows, p.per_sample(in[k])));
    if (k && rows != d.n_rows) throw py::value_error("all input arrays need the same number of samples");
    d.n_rows = rows;
  }
  if (!ys.is_none())
    for (auto y : ys.cast<py::list>()) {
      size_t rows;
      py::array a = arrays::as_array(y, "target");
      d.y.push_back(arrays::samples(a, "target", &rows));
      if (rows != d.n_rows) throw py::value_error("targets need as many samples as the inputs");
      d.y_width.push_back(rows ? a.size() / rows : 0);
    }
  if (!sw.is_none()) {
    size_t rows;
    d.sample_weight = arrays::samples(arrays::as_array(sw, "sample_weight"), "sample_weight", &rows, 1);
    if (rows != d.n_rows) throw py::value_error("sample_weight needs one weight per sample");
  }
  if (count < 0) throw py::value_error("batch size must be >= 0");
  if (idx.is_none()) {
    if (start + count > d.n_rows) throw py::value_error("batch rows out of range");
  } else {
    py::array a = arrays::as_array(idx, "idx");
    d.idx = arrays::checked<int64_t>(a, "idx", 1);
    if (start + count > static_cast<size_t>(a.size())) throw py::value_error("batch rows out of range");
  }
  return d;
}

double* stats_buffer(py::array& stats, const bc::Program& p) {
  if (!py::isinstance<py::array_t<double>>(stats) || !(stats.flags() & py::array::c_style) ||
      !stats.writeable() || static_cast<size_t>(stats.size()) < p.stats_size())
    throw py::value_error("stats must be a writeable float64 array of " + std::to_string(p.stats_size()) + " values");
  return static_cast<double*>(stats.mutable_data());
}

std::string nonfinite_message(const py::list& xs, const bc::NonFiniteInput& e) {
  py::array a = xs[e.input].cast<py::array>();
  std::vector<size_t> idx(a.ndim());
  size_t flat = e.offset;
  for (py::ssize_t d = a.ndim() - 1; d >= 1; --d) {
    idx[d] = flat % a.shape(d);
    flat /= a.shape(d);
  }
  idx[0] = e.row;
  std::string s = "(";
  for (size_t d = 0; d < idx.size(); ++d) s += (d ? ", " : "") + std::to_string(idx[d]);
  return "Input " + std::to_string(e.input) + " contains NaN or inf (first at index " + s +
         (idx.size() == 1 ? ",))" : "))");
}
