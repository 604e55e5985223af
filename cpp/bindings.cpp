// Python bindings: check numpy buffers (dtype, contiguity, shape), call plain C++, release the
// GIL around native work. No logic lives here.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "activation.h"
#include "bindings_batch.h"
#include "cpu.h"
#include "dense.h"
#include "dropout.h"
#include "embedding.h"
#include "gru.h"
#include "lstm.h"
#include "merge.h"
#include "gemm.h"
#include "loss.h"
#include "program.h"
#include "qdense.h"
#include "quant.h"
#include "rng.h"

namespace py = pybind11;
using bc::Program;

void bind_prune(py::module_& m);  // bindings_prune.cpp
void bind_sparse(py::module_& m);  // bindings_sparse.cpp
void bind_infer(py::module_& m);  // bindings_infer.cpp

namespace {

std::string shape_str(const py::array& a) {
  std::string s = "(";
  for (py::ssize_t i = 0; i < a.ndim(); ++i) s += (i ? ", " : "") + std::to_string(a.shape(i));
  return s + (a.ndim() == 1 ? ",)" : ")");
}

// A C-contiguous float32 array of `rows` x `per_sample` values; never converted (a silent copy
// would hide writes and cost a copy per batch).
const float* f32(const py::array& a, const char* what, size_t* rows, size_t per_sample = 0) {
  if (!py::isinstance<py::array_t<float>>(a) || !(a.flags() & py::array::c_style))
    throw py::value_error(std::string(what) + " must be a C-contiguous float32 array, got dtype " +
                          py::str(a.dtype()).cast<std::string>());
  size_t r = a.ndim() ? static_cast<size_t>(a.shape(0)) : 1;
  if (per_sample && r * per_sample != static_cast<size_t>(a.size()))
    throw py::value_error(std::string(what) + " must have " + std::to_string(per_sample) +
                          " values per sample, got shape " + shape_str(a));
  if (rows) *rows = r;
  return static_cast<const float*>(a.data());
}

float* f32_mut(py::array& a, const char* what, size_t* rows, size_t per_sample = 0) {
  if (!a.writeable()) throw py::value_error(std::string(what) + " must be writeable");
  f32(a, what, rows, per_sample);
  return static_cast<float*>(a.mutable_data());
}

py::array_t<float> view(py::handle owner, float* data, size_t n) {
  return py::array_t<float>({static_cast<py::ssize_t>(n)}, {sizeof(float)}, data, owner);
}

bc::BatchData batch(Program& p, const py::list& xs, const py::object& ys, const py::object& sw,
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
    d.x.push_back(f32(xs[k].cast<py::array>(), "input", &rows, p.per_sample(in[k])));
    if (k && rows != d.n_rows) throw py::value_error("all input arrays need the same number of samples");
    d.n_rows = rows;
  }
  if (!ys.is_none())
    for (auto y : ys.cast<py::list>()) {
      size_t rows;
      py::array a = y.cast<py::array>();
      d.y.push_back(f32(a, "target", &rows));
      if (rows != d.n_rows) throw py::value_error("targets need as many samples as the inputs");
      d.y_width.push_back(rows ? a.size() / rows : 0);
    }
  if (!sw.is_none()) {
    size_t rows;
    d.sample_weight = f32(sw.cast<py::array>(), "sample_weight", &rows, 1);
    if (rows != d.n_rows) throw py::value_error("sample_weight needs one weight per sample");
  }
  if (count < 0) throw py::value_error("batch size must be >= 0");
  if (idx.is_none()) {
    if (start + count > d.n_rows) throw py::value_error("batch rows out of range");
  } else {
    py::array a = idx.cast<py::array>();
    if (!py::isinstance<py::array_t<int64_t>>(a) || !(a.flags() & py::array::c_style) || a.ndim() != 1)
      throw py::value_error("idx must be a 1-D C-contiguous int64 array");
    if (start + count > static_cast<size_t>(a.size())) throw py::value_error("batch rows out of range");
    d.idx = static_cast<const int64_t*>(a.data());
  }
  return d;
}

// "Input k contains NaN or inf (first at index (i, j, ...))", the index in the caller's array.
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

double* stats_ptr(py::array& stats, const Program& p) {
  if (!py::isinstance<py::array_t<double>>(stats) || !(stats.flags() & py::array::c_style) ||
      !stats.writeable() || static_cast<size_t>(stats.size()) < p.stats_size())
    throw py::value_error("stats must be a writeable float64 array of " + std::to_string(p.stats_size()) + " values");
  return static_cast<double*>(stats.mutable_data());
}

}  // namespace

bc::BatchData bind_batch(Program& p, const py::list& xs, const py::object& ys, const py::object& sw,
                         const py::object& idx, size_t start, int count) {
  return batch(p, xs, ys, sw, idx, start, count);
}
double* bind_stats(py::array& stats, const Program& p) { return stats_ptr(stats, p); }
void bind_distributed(py::module_& m);  // bindings_distributed.cpp
void bind_qrecurrent(py::module_& m);  // bindings_qrecurrent.cpp

PYBIND11_MODULE(_core, m) {
  m.doc() = "bigcore native core: kernels and the program runtime";
  bind_prune(m);
  bind_infer(m);

  py::class_<bc::OptimArgs>(m, "OptimArgs")
      .def(py::init<>())
      .def_readwrite("kind", &bc::OptimArgs::kind)
      .def_readwrite("lr", &bc::OptimArgs::lr)
      .def_readwrite("alpha", &bc::OptimArgs::alpha)
      .def_readwrite("beta1", &bc::OptimArgs::beta1)
      .def_readwrite("beta2", &bc::OptimArgs::beta2)
      .def_readwrite("eps", &bc::OptimArgs::eps)
      .def_readwrite("momentum", &bc::OptimArgs::momentum)
      .def_readwrite("rho", &bc::OptimArgs::rho)
      .def_readwrite("nesterov", &bc::OptimArgs::nesterov)
      .def_readwrite("amsgrad", &bc::OptimArgs::amsgrad)
      .def_readwrite("centered", &bc::OptimArgs::centered)
      .def_readwrite("weight_decay", &bc::OptimArgs::weight_decay)
      .def_readwrite("clipnorm", &bc::OptimArgs::clipnorm)
      .def_readwrite("clipvalue", &bc::OptimArgs::clipvalue)
      .def_readwrite("global_clipnorm", &bc::OptimArgs::global_clipnorm);

  py::class_<Program>(m, "Program")
      .def(py::init<>())
      .def("add_tensor", &Program::add_tensor, py::arg("per_sample"), py::arg("is_input") = false)
      .def("add_param", &Program::add_param, py::arg("n"), py::arg("l1") = 0.0f,
           py::arg("l2") = 0.0f, py::arg("trainable") = true, py::arg("max_norm") = 0.0f,
           py::arg("rows") = 1)
      .def("add_dense", [](Program& p, int in, int out, size_t w, long b, int K, int N, int act) {
        if (K <= 0 || N <= 0) throw py::value_error("Dense needs positive sizes");
        p.add_op(std::make_unique<bc::DenseOp>(in, out, w, b, K, N, act));
      })
      .def("add_activation", [](Program& p, int in, int out, int act, int width) {
        if (width <= 0 || p.per_sample(in) % width) throw py::value_error("bad activation width");
        p.add_op(std::make_unique<bc::ActivationOp>(in, out, act, width));
      })
      .def("add_activity_reg", [](Program& p, int in, int out, float l1, float l2) {
        p.add_op(std::make_unique<bc::ActivityRegOp>(in, out, l1, l2));
      })
      .def("add_dropout", [](Program& p, int in, int out, float rate, uint64_t stream) {
        p.add_op(std::make_unique<bc::DropoutOp>(in, out, rate, stream));
      })
      .def("add_embedding", [](Program& p, int ids, int out, int mask, size_t table, int V, int E) {
        p.add_op(std::make_unique<bc::EmbeddingOp>(ids, out, mask, table, V, E));
      })
      .def("add_recurrent", [](Program& p, const std::string& kind, int x, int mask, const std::vector<int>& outs,
                               size_t w, size_t r, long b, int D, int U, int T, int act, int ract,
                               bool return_sequences, bool return_state, bool go_backwards,
                               bool zero_output_for_mask, bool output_in_input_order, float dropout,
                               float recurrent_dropout, uint64_t stream) {
        bc::RnnConfig c;
        c.D = D; c.U = U; c.T = T; c.act = act; c.ract = ract;
        c.return_sequences = return_sequences; c.return_state = return_state; c.go_backwards = go_backwards;
        c.zero_output_for_mask = zero_output_for_mask; c.output_in_input_order = output_in_input_order;
        c.has_mask = mask >= 0; c.dropout = dropout; c.recurrent_dropout = recurrent_dropout; c.stream = stream;
        if (kind == "lstm") p.add_op(std::make_unique<bc::LstmOp>(c, x, mask, outs, w, r, b));
        else if (kind == "gru") p.add_op(std::make_unique<bc::GruOp>(c, x, mask, outs, w, r, b));
        else throw py::value_error("unknown recurrent kind '" + kind + "'");
      })
      .def("add_concat", [](Program& p, const std::vector<int>& ins, int out, const std::vector<int>& widths) {
        p.add_op(std::make_unique<bc::ConcatOp>(ins, out, widths));
      })
      .def("add_merge", [](Program& p, const std::vector<int>& ins, int out, int mode) {
        for (int t : ins)
          if (p.per_sample(t) != p.per_sample(out)) throw py::value_error("merged tensors must have the same shape");
        p.add_op(std::make_unique<bc::AddOp>(ins, out, mode));
      })
      .def("add_qdense", [](Program& p, int in, int out, const py::array& wq, const py::array& scale, long b,
                            int act, float x_scale) {
        if (!py::isinstance<py::array_t<int8_t>>(wq) || !(wq.flags() & py::array::c_style) || wq.ndim() != 2)
          throw py::value_error("add_qdense: wq must be a C-contiguous int8 (K, N) array");
        size_t n;
        const float* s = f32(scale, "scale", &n);
        if (scale.ndim() != 1 || scale.shape(0) != wq.shape(1)) throw py::value_error("add_qdense: scale must be (N,)");
        const int K = static_cast<int>(wq.shape(0)), N = static_cast<int>(wq.shape(1));
        p.add_op(std::make_unique<bc::QDenseOp>(in, out, static_cast<const int8_t*>(wq.data()), s, b, K, N, act,
                                                x_scale));
      })
      .def("set_inputs", &Program::set_inputs)
      .def("set_outputs", &Program::set_outputs)
      .def("finalize", &Program::finalize)
      .def("per_sample", &Program::per_sample)
      .def_property_readonly("arena_size", &Program::arena_size)
      .def_property_readonly("stats_size", &Program::stats_size)
      .def("params", [](py::object self) {
        Program& p = self.cast<Program&>();
        return view(self, p.params(), p.arena_size());
      })
      .def("grads", [](py::object self) {
        Program& p = self.cast<Program&>();
        return view(self, p.grads(), p.arena_size());
      })
      .def("opt_slot", [](py::object self, int s) {
        Program& p = self.cast<Program&>();
        if (s < 0 || s >= p.opt_slots()) throw py::index_error("no such optimizer slot");
        return view(self, p.opt_slot(s), p.arena_size());
      })
      .def("set_losses", [](Program& p, const std::vector<py::tuple>& specs) {
        std::vector<bc::LossSpec> v;
        for (const auto& t : specs) {
          bc::LossSpec s;
          s.tensor = t[0].cast<int>(); s.target = t[1].cast<int>(); s.kind = t[2].cast<int>();
          s.C = t[3].cast<int>(); s.weight = t[4].cast<float>(); s.from_logits = t[5].cast<bool>();
          s.label_smoothing = t[6].cast<float>();
          s.mask = t.size() > 7 ? t[7].cast<int>() : -1;
          s.param = t.size() > 8 ? t[8].cast<float>() : 0.0f;
          v.push_back(s);
        }
        p.set_losses(v);
      })
      .def("set_metrics", [](Program& p, const std::vector<py::tuple>& specs) {
        std::vector<bc::MetricSpec> v;
        for (const auto& t : specs) {
          bc::MetricSpec s;
          s.tensor = t[0].cast<int>(); s.target = t[1].cast<int>(); s.kind = t[2].cast<int>();
          s.C = t[3].cast<int>(); s.params.threshold = t[4].cast<float>();
          s.mask = t.size() > 5 ? t[5].cast<int>() : -1;
          if (t.size() > 6) {  // {"k", "thresholds", "evenly", "from_logits", "class_id"}, each optional
            py::dict a = t[6].cast<py::dict>();
            if (a.contains("k")) s.params.k = a["k"].cast<int>();
            if (a.contains("thresholds")) s.params.thresholds = a["thresholds"].cast<std::vector<float>>();
            if (a.contains("evenly")) s.params.evenly = a["evenly"].cast<bool>();
            if (a.contains("from_logits")) s.params.from_logits = a["from_logits"].cast<bool>();
            if (a.contains("class_id")) s.params.class_id = a["class_id"].cast<int>();
          }
          v.push_back(s);
        }
        p.set_metrics(v);
      })
      .def("set_optimizer", [](Program& p, int slots, float init) {
        p.set_optimizer(bc::OptimArgs{}, slots, init);
      })
      .def("regularization_loss", &Program::regularization_loss)
      .def("train_step", [](Program& p, const py::list& xs, const py::object& ys, const py::object& sw,
                            const py::object& idx, size_t start, int count, const bc::OptimArgs& a,
                            uint64_t seed, uint64_t step, py::array stats) {
        bc::BatchData d = batch(p, xs, ys, sw, idx, start, count);
        double* s = stats_ptr(stats, p);
        py::gil_scoped_release release;
        p.train_step(d, a, seed, step, s);
      })
      .def("evaluate_step", [](Program& p, const py::list& xs, const py::object& ys, const py::object& sw,
                               const py::object& idx, size_t start, int count, py::array stats) {
        bc::BatchData d = batch(p, xs, ys, sw, idx, start, count);
        double* s = stats_ptr(stats, p);
        py::gil_scoped_release release;
        p.evaluate_step(d, s);
      })
      .def("predict_step", [](Program& p, const py::list& xs, size_t start, int count, const py::list& outs,
                              bool check_finite) {
        bc::BatchData d = batch(p, xs, py::none(), py::none(), py::none(), start, count);
        d.check_finite = check_finite;
        std::vector<float*> o;
        const auto& ot = p.outputs();
        if (outs.size() != ot.size()) throw py::value_error("predict needs one output array per model output");
        for (size_t k = 0; k < ot.size(); ++k) {
          py::array a = outs[k].cast<py::array>();
          size_t rows;
          o.push_back(f32_mut(a, "output", &rows, p.per_sample(ot[k])));
          if (rows < start + count) throw py::value_error("output array has too few rows");
        }
        try {
          py::gil_scoped_release release;
          p.predict_step(d, o);
        } catch (const bc::NonFiniteInput& e) {
          throw py::value_error(nonfinite_message(xs, e));
        }
      }, py::arg("xs"), py::arg("start"), py::arg("count"), py::arg("outs"), py::arg("check_finite") = false);

  m.def("fill_uniform", [](py::array out, uint64_t seed, uint64_t stream, float low, float high) {
    size_t n;
    float* p = f32_mut(out, "out", &n);
    bc::fill_uniform(p, out.size(), bc::rng_key(seed, stream, 0), low, high);
  });
  m.def("fill_normal", [](py::array out, uint64_t seed, uint64_t stream, float mean, float stddev,
                          bool truncated) {
    size_t n;
    float* p = f32_mut(out, "out", &n);
    bc::fill_normal(p, out.size(), bc::rng_key(seed, stream, 0), mean, stddev, truncated);
  });
  m.def("fill_orthogonal", [](py::array out, uint64_t seed, uint64_t stream, float gain) {
    size_t n;
    float* p = f32_mut(out, "out", &n);
    if (out.ndim() != 2) throw py::value_error("fill_orthogonal expects a 2-D array");
    bc::fill_orthogonal(p, static_cast<int>(out.shape(0)), static_cast<int>(out.shape(1)),
                        bc::rng_key(seed, stream, 0), gain);
  });
  m.def("permutation", [](size_t n, uint64_t seed, uint64_t stream, uint64_t epoch) {
    py::array_t<int64_t> out(static_cast<py::ssize_t>(n));
    bc::permutation(out.mutable_data(), n, bc::rng_key(seed, stream, epoch));
    return out;
  });
  // The batch loss of one loss kind on numpy arrays (losses.Loss.__call__), Keras-reduced.
  m.def("loss_value", [](py::array pred, py::array target, py::object sw, int kind, int C, bool from_logits,
                         float label_smoothing, float param) {
    size_t rows, trows;
    const float* p = f32(pred, "y_pred", &rows, static_cast<size_t>(C));
    const float* t = f32(target, "y_true", &trows);
    size_t want = kind == bc::LOSS_SPARSE_CCE ? 1 : static_cast<size_t>(C);
    if (trows != rows || static_cast<size_t>(target.size()) != rows * want)
      throw py::value_error("y_true has shape " + shape_str(target) + ", expected " + std::to_string(rows) +
                            " rows of " + std::to_string(want));
    const float* w = nullptr;
    if (!sw.is_none()) {
      size_t wr;
      w = f32(sw.cast<py::array>(), "sample_weight", &wr, 1);
      if (wr != rows) throw py::value_error("sample_weight needs one value per row");
    }
    std::vector<float> grad(rows * C);
    double s = bc::loss_forward_backward(grad.data(), p, t, w, static_cast<int>(rows), C, kind, from_logits, -1,
                                         label_smoothing, param, 1.0f);
    return rows ? s / rows : 0.0;
  }, py::arg("y_pred"), py::arg("y_true"), py::arg("sample_weight"), py::arg("kind"), py::arg("C"),
     py::arg("from_logits") = false, py::arg("label_smoothing") = 0.0f, py::arg("param") = 0.0f);
  m.def("set_num_threads", [](int n) {
    if (n < 1) throw py::value_error("set_num_threads expects n >= 1, got " + std::to_string(n));
    bc::set_num_threads(n);
  });
  m.def("get_num_threads", &bc::get_num_threads);
  m.def("cpu_features", &bc::cpu_features);
  m.def("best_isa", &bc::best_isa);
  m.def("set_isa", &bc::set_isa);
  m.def("current_isa", [] { return std::string(bc::kernels().name); });
  m.def("blas_info", [] { return std::string(bc::blas_info()); });

  // Kernel entry points for tests and benchmarks: each runs one kernel of the table in use.
  m.def("bias_act_forward", [](py::array y, py::object b, int act) {
    size_t rows;
    float* yp = f32_mut(y, "y", &rows);
    int N = static_cast<int>(y.ndim() == 2 ? y.shape(1) : y.size());
    if (y.size() == 0) return;  // nothing to do (and no division by an empty axis)
    const float* bp = nullptr;
    if (!b.is_none()) {
      size_t br;
      bp = f32(b.cast<py::array>(), "b", &br, 0);
      if (b.cast<py::array>().size() != N) throw py::value_error("bias must have N values");
    }
    bc::kernels().bias_act_forward(yp, bp, static_cast<int>(y.size() / N), N, act);
  });
  m.def("act_backward", [](py::array dy, py::array y, int act) {
    size_t rows;
    float* d = f32_mut(dy, "dy", &rows);
    const float* yp = f32(y, "y", &rows);
    if (dy.size() != y.size() || y.ndim() != 2) throw py::value_error("dy and y must be (B, N) alike");
    bc::kernels().act_backward(d, yp, static_cast<int>(y.shape(0)), static_cast<int>(y.shape(1)), act);
  });
  m.def("gemm", [](bool ta, bool tb, py::array A, py::array B, py::array C, float alpha, float beta) {
    size_t r;
    if (A.ndim() != 2 || B.ndim() != 2 || C.ndim() != 2) throw py::value_error("gemm takes 2-D arrays");
    const float* a = f32(A, "A", &r);
    const float* b = f32(B, "B", &r);
    float* c = f32_mut(C, "C", &r);
    int M = static_cast<int>(ta ? A.shape(1) : A.shape(0)), K = static_cast<int>(ta ? A.shape(0) : A.shape(1));
    int K2 = static_cast<int>(tb ? B.shape(1) : B.shape(0)), N = static_cast<int>(tb ? B.shape(0) : B.shape(1));
    if (K != K2 || C.shape(0) != M || C.shape(1) != N) throw py::value_error("gemm shapes do not match");
    py::gil_scoped_release release;
    bc::gemm(ta, tb, M, N, K, alpha, a, static_cast<int>(A.shape(1)), b, static_cast<int>(B.shape(1)), beta, c, N);
  });
  // int8 kernels (cpp/quant.h), for tests, benchmarks and the quantized runtime.
  auto i8 = [](const py::array& a, const char* what) {
    if (!py::isinstance<py::array_t<int8_t>>(a) || !(a.flags() & py::array::c_style) || a.ndim() != 2)
      throw py::value_error(std::string(what) + " must be a 2-D C-contiguous int8 array, got dtype " +
                            py::str(a.dtype()).cast<std::string>() + " and shape " + shape_str(a));
    return static_cast<const int8_t*>(a.data());
  };
  auto f32_2d = [](const py::array& a, const char* what) {
    size_t rows;
    const float* p = f32(a, what, &rows);
    if (a.ndim() != 2) throw py::value_error(std::string(what) + " must be 2-D, got shape " + shape_str(a));
    return p;
  };
  auto dim = [](const py::array& a, int i) { return static_cast<int>(a.shape(i)); };
  py::class_<bc::QLinear>(m, "QLinear")
      .def(py::init([f32_2d, dim](const py::array& W) {
             const float* w = f32_2d(W, "W");
             py::gil_scoped_release release;
             return bc::QLinear(w, dim(W, 0), dim(W, 1));
           }), py::arg("W"), "Quantizes W (K, N) float32 per output column and packs it.")
      .def_static("from_int8", [i8, dim](const py::array& wq, const py::array& scale) {
             const int8_t* w = i8(wq, "wq");
             size_t n;
             const float* s = f32(scale, "scale", &n);
             if (scale.ndim() != 1 || scale.shape(0) != wq.shape(1))
               throw py::value_error("scale must have shape (" + std::to_string(wq.shape(1)) + ",), got " +
                                     shape_str(scale));
             return bc::QLinear(w, s, dim(wq, 0), dim(wq, 1));
           }, py::arg("wq"), py::arg("scale"), "Packs already-quantized weights wq (K, N) in [-127, 127].")
      .def_property_readonly("K", &bc::QLinear::K)
      .def_property_readonly("N", &bc::QLinear::N)
      .def_property_readonly("packed_bytes", &bc::QLinear::packed_bytes)
      .def("scales", [](const bc::QLinear& q) {
        py::array_t<float> out(q.N());
        std::copy(q.scales(), q.scales() + q.N(), out.mutable_data());
        return out;
      })
      .def("weights_q", [](const bc::QLinear& q) {
        py::array_t<int8_t> out({q.K(), q.N()});
        q.unpack(out.mutable_data());
        return out;
      })
      .def("acc", [i8, dim](const bc::QLinear& q, const py::array& xq) {
        const int8_t* x = i8(xq, "xq");
        if (dim(xq, 1) != q.K())
          throw py::value_error("xq must have shape (M, " + std::to_string(q.K()) + "), got " + shape_str(xq));
        py::array_t<int32_t> out({dim(xq, 0), q.N()});
        int32_t* o = out.mutable_data();
        py::gil_scoped_release release;
        q.acc(o, x, dim(xq, 0));
        return out;
      }, py::arg("xq"), "acc (M, N) int32 = xq (M, K) @ W_q, exact.")
      .def("forward", [f32_2d, dim](const bc::QLinear& q, const py::array& x, const py::object& bias, int act,
                                   float x_scale) {
        const float* xp = f32_2d(x, "x");
        if (dim(x, 1) != q.K())
          throw py::value_error("x must have shape (M, " + std::to_string(q.K()) + "), got " + shape_str(x));
        const float* b = nullptr;
        if (!bias.is_none()) {
          py::array ba = bias.cast<py::array>();
          size_t n;
          b = f32(ba, "bias", &n);
          if (ba.ndim() != 1 || ba.shape(0) != q.N())
            throw py::value_error("bias must have shape (" + std::to_string(q.N()) + ",), got " + shape_str(ba));
        }
        py::array_t<float> out({dim(x, 0), q.N()});
        float* o = out.mutable_data();
        py::gil_scoped_release release;
        q.forward(o, xp, b, dim(x, 0), act, x_scale);
        return out;
      }, py::arg("x"), py::arg("bias") = py::none(), py::arg("act") = 0, py::arg("x_scale") = 0.0f,
         "y (M, N) = act(int8 x @ W_q * scales + bias); x_scale > 0 fixes the activation scale.");
  m.def("quantize_rows", [f32_2d, dim](const py::array& x, float x_scale) {
    const float* xp = f32_2d(x, "x");
    py::array_t<int8_t> q({dim(x, 0), dim(x, 1)});
    py::array_t<float> s(dim(x, 0));
    int8_t* qp = q.mutable_data();
    float* sp = s.mutable_data();
    {
      py::gil_scoped_release release;
      bc::quantize_rows(qp, sp, xp, dim(x, 0), dim(x, 1), x_scale);
    }
    return py::make_tuple(q, s);
  }, py::arg("x"), py::arg("x_scale") = 0.0f, "(x_q int8 (M, K), scale float32 (M)) from x (M, K).");
  m.def("quant_isa", &bc::quant_isa);
  m.def("quant_best_isa", &bc::quant_best_isa);
  m.def("quant_isa_supported", &bc::quant_isa_supported);
  m.def("quant_set_isa", &bc::quant_set_isa);
  bind_distributed(m);
  bind_qrecurrent(m);
  bind_sparse(m);
}
