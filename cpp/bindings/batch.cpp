#include "bindings/batch.h"

#include <algorithm>
#include <cstdint>

#include "bindings/arrays.h"

BatchSource::BatchSource(const bc::Program& p, const py::list& xs, const py::object& ys, const py::object& sw,
                         const py::object& outs)
    : program_(&p) {
  const auto& in = p.inputs();
  if (xs.size() != in.size())
    throw py::value_error("the model expects " + std::to_string(in.size()) + " input arrays, got " +
                          std::to_string(xs.size()));
  for (size_t k = 0; k < in.size(); ++k) inputs_.push_back(arrays::as_array(xs[k], "input"));
  if (p.symbols().size()) {  // run-time shapes: the symbols' values from the arrays' axes
    std::vector<std::vector<int64_t>> dims;
    for (const auto& a : inputs_) dims.emplace_back(a.shape() + std::min<py::ssize_t>(a.ndim(), 1), a.shape() + a.ndim());
    arrays_.sym = p.resolve_symbols(dims);
  }
  for (size_t k = 0; k < in.size(); ++k) {
    size_t rows;
    const size_t ps = arrays_.sym.empty() ? p.per_sample(in[k]) : p.resolved_shape(in[k], arrays_.sym).numel();
    arrays_.x.push_back(arrays::samples(inputs_[k], "input", &rows, ps));
    if (k && rows != arrays_.n_rows) throw py::value_error("all input arrays need the same number of samples");
    arrays_.n_rows = rows;
  }
  if (!ys.is_none())
    for (auto y : ys.cast<py::list>()) {
      size_t rows;
      py::array a = arrays::as_array(y, "target");
      held_.push_back(a);
      arrays_.y.push_back(arrays::samples(a, "target", &rows));
      if (rows != arrays_.n_rows) throw py::value_error("targets need as many samples as the inputs");
      arrays_.y_width.push_back(rows ? a.size() / rows : 0);
    }
  if (!sw.is_none()) {
    size_t rows;
    held_.push_back(arrays::as_array(sw, "sample_weight"));
    const py::array& a = held_.back();
    // one weight per sample, or one per timestep of the outputs (program.cpp checks them against each output)
    const size_t width = a.ndim() == 2 ? static_cast<size_t>(a.shape(1)) : 1;
    if (a.ndim() > 2 || width == 0)
      throw py::value_error("sample_weight must have shape (samples,) or (samples, timesteps), got " +
                            std::to_string(a.ndim()) + " axes");
    arrays_.sample_weight = arrays::samples(a, "sample_weight", &rows, width);
    arrays_.sw_width = width;
    if (rows != arrays_.n_rows) throw py::value_error("sample_weight needs one weight per sample");
  }
  set_outputs(outs);
}

void BatchSource::set_outputs(const py::object& outs) {
  outs_.clear();
  outs_data_.clear();
  if (outs.is_none()) return;
  const bc::Program& p = *program_;
  const py::list o = outs.cast<py::list>();
  const auto& ot = p.outputs();
  if (o.size() != ot.size()) throw py::value_error("predict needs one output array per model output");
  std::vector<py::array> arrays;
  std::vector<float*> data;
  size_t min_rows = SIZE_MAX;
  for (size_t k = 0; k < ot.size(); ++k) {
    arrays.push_back(arrays::as_array(o[k], "output"));
    size_t rows;
    const size_t ps = arrays_.sym.empty() ? p.per_sample(ot[k]) : p.resolved_shape(ot[k], arrays_.sym).numel();
    data.push_back(arrays::samples_mut(arrays.back(), "output", &rows, ps));
    min_rows = std::min(min_rows, rows);
  }
  outs_ = std::move(arrays);  // only once all are checked
  outs_data_ = std::move(data);
  outs_rows_ = ot.empty() ? 0 : min_rows;
}

void BatchSource::check_program(const bc::Program& p) const {
  if (&p != program_) throw py::value_error("this batch source was bound to another program");
}

bc::BatchData BatchSource::batch(const bc::Program& p, const py::object& idx, size_t start, int count) const {
  check_program(p);
  if (count < 0) throw py::value_error("batch size must be >= 0");
  bc::BatchData d;
  d.arrays = &arrays_;
  d.start = start;
  d.count = count;
  if (idx.is_none()) {
    if (start + count > arrays_.n_rows) throw py::value_error("batch rows out of range");
  } else {
    py::array a = arrays::as_array(idx, "idx");
    d.idx = arrays::checked<int64_t>(a, "idx", 1);
    if (start + count > static_cast<size_t>(a.size())) throw py::value_error("batch rows out of range");
  }
  return d;
}

const std::vector<float*>& BatchSource::outputs(const bc::Program& p, size_t start, int count) const {
  check_program(p);
  if (outs_.size() != p.outputs().size())
    throw py::value_error("predict needs output arrays: bind(..., outs=[...]) or set_outputs()");
  if (!outs_.empty() && start + count > outs_rows_) throw py::value_error("output array has too few rows");
  return outs_data_;
}

std::string BatchSource::nonfinite_message(const bc::NonFiniteInput& e) const {
  const py::array& a = inputs_.at(e.input);
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

double* stats_buffer(py::array& stats, const bc::Program& p) {
  if (!py::isinstance<py::array_t<double>>(stats) || !(stats.flags() & py::array::c_style) ||
      !stats.writeable() || static_cast<size_t>(stats.size()) < p.stats_size())
    throw py::value_error("stats must be a writeable float64 array of " + std::to_string(p.stats_size()) + " values");
  return static_cast<double*>(stats.mutable_data());
}

// T > 0: x must hold (T, D) per sample when its shape is fixed; 0: x's length is symbolic. Either
// way the op reads T from x's resolved shape per call.
void check_timesteps(const bc::Program& p, const char* what, int x, int D, int T) {
  if (x < 0 || x >= p.n_tensors()) throw py::value_error(std::string(what) + ": unknown input tensor");
  bool symbolic = false;
  for (const auto& d : p.dims(x)) symbolic = symbolic || d.sym >= 0;
  if (!symbolic && T > 0 && p.per_sample(x) != static_cast<size_t>(T) * D)
    throw py::value_error(std::string(what) + ": the input holds " + std::to_string(p.per_sample(x)) +
                          " values per sample, not T * D = " + std::to_string(static_cast<size_t>(T) * D));
}
