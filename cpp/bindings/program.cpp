// The Program class: building ops into it, compiling losses/metrics/optimizer, running steps.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "bindings/arrays.h"
#include "bindings/batch.h"
#include "bindings/metric_params.h"
#include "bindings/bindings.h"
#include "ops/activation.h"
#include "ops/dense.h"
#include "ops/dropout.h"
#include "ops/embedding.h"
#include "ops/gru.h"
#include "ops/lstm.h"
#include "ops/merge.h"
#include "ops/qdense.h"
#include "ops/simple_rnn.h"
#include "runtime/program.h"

namespace py = pybind11;
using bc::Program;

namespace {
// A recurrent layer reading an Embedding's output directly learns the ids and the table, for its
// inference memo (ops/projection_memo.h). The Embedding still runs: others may read its output.
void fold_embedding(const Program& p, bc::RecurrentOp& op, int x) {
  for (size_t i = 0; i < p.n_ops(); ++i)
    if (const auto* e = dynamic_cast<const bc::EmbeddingOp*>(&p.op(static_cast<int>(i))))
      if (e->out[0] == x) op.fold_embedding(e->in[0], e->params[0], e->vocab());
}

// A merge's inputs, each of out's shape, and their masks (one per input, -1 for none), of one width
// that divides out's values per sample (one per step). Returns that width, 0 when none is masked.
size_t merged_mask_width(const Program& p, const std::vector<int>& ins, const std::vector<int>& masks, int out,
                         const std::string& what) {
  for (int t : ins)
    if (p.per_sample(t) != p.per_sample(out)) throw py::value_error("merged tensors must have the same shape");
  size_t width = 0;
  for (int m : masks)
    if (m >= 0) {
      if (width && p.per_sample(m) != width) throw py::value_error(what + ": the masks differ in shape");
      width = p.per_sample(m);
    }
  if (width && p.per_sample(out) % width) throw py::value_error(what + ": a mask must have one value per step");
  return width;
}
}  // namespace

void bind_program(py::module_& m) {
  py::class_<bc::OptimArgs>(m, "OptimArgs", "The optimizer's constants, sent once (set_optimizer).")
      .def(py::init<>())
      .def_readwrite("kind", &bc::OptimArgs::kind)
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
      .def_readwrite("global_clipnorm", &bc::OptimArgs::global_clipnorm)
      .def_readwrite("use_ema", &bc::OptimArgs::use_ema)
      .def_readwrite("ema_momentum", &bc::OptimArgs::ema_momentum)
      .def_readwrite("ema_overwrite_frequency", &bc::OptimArgs::ema_overwrite_frequency)
      .def_readwrite("gradient_accumulation_steps", &bc::OptimArgs::gradient_accumulation_steps)
      .def_readwrite("learning_rate_power", &bc::OptimArgs::learning_rate_power)
      .def_readwrite("l1", &bc::OptimArgs::l1)
      .def_readwrite("l2", &bc::OptimArgs::l2)
      .def_readwrite("l2_shrinkage", &bc::OptimArgs::l2_shrinkage)
      .def_readwrite("ftrl_beta", &bc::OptimArgs::ftrl_beta)
      .def_readwrite("beta2_decay", &bc::OptimArgs::beta2_decay)
      .def_readwrite("eps1", &bc::OptimArgs::eps1)
      .def_readwrite("eps2", &bc::OptimArgs::eps2)
      .def_readwrite("clip_threshold", &bc::OptimArgs::clip_threshold)
      .def_readwrite("muon_momentum", &bc::OptimArgs::muon_momentum)
      .def_readwrite("muon_a", &bc::OptimArgs::muon_a)
      .def_readwrite("muon_b", &bc::OptimArgs::muon_b)
      .def_readwrite("muon_c", &bc::OptimArgs::muon_c)
      .def_readwrite("adam_lr_ratio", &bc::OptimArgs::adam_lr_ratio)
      .def_readwrite("rms_rate", &bc::OptimArgs::rms_rate)
      .def_readwrite("use_rms_rate", &bc::OptimArgs::use_rms_rate)
      .def_readwrite("adam_weight_decay", &bc::OptimArgs::adam_weight_decay)
      .def_readwrite("ns_steps", &bc::OptimArgs::ns_steps)
      .def_readwrite("muon_offsets", &bc::OptimArgs::muon_offsets)
      .def_readwrite("warmup_steps", &bc::OptimArgs::warmup_steps);
  m.def(
      "nadam_u_product",
      [](double beta1, uint64_t t) {
        bc::NadamProduct fresh;
        return bc::nadam_u_product(beta1, t, fresh);
      },
      py::arg("beta1"), py::arg("t"),
      "Nadam's momentum-schedule product after t steps (Keras's _u_product), as the update computes it.");

  py::class_<BatchSource>(m, "BatchSource", "The arrays of one fit/evaluate/predict call, checked once (Program.bind).")
      .def("set_outputs", &BatchSource::set_outputs, py::arg("outs"),
           "Binds predict's output arrays (one per model output, as many rows as the inputs).")
      .def_property_readonly("rows", &BatchSource::rows);

  // Failed allocations that say what they were for (core/common.h).
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const bc::OutOfMemory& e) {
      PyErr_SetString(PyExc_MemoryError, e.what());
    }
  });

  // Held by shared_ptr: weight cells reach the program that is their home (runtime/param_home.h).
  py::class_<Program, std::shared_ptr<Program>>(m, "Program")
      .def(py::init<>())
      .def("add_tensor", &Program::add_tensor, py::arg("per_sample"), py::arg("is_input") = false)
      .def("add_param", [](Program& p, size_t n, float l1, float l2, bool trainable, const std::string& constraint,
                           float min_value, float max_value, double rate, size_t rows, size_t mid, size_t last) {
        static const std::map<std::string, int> kinds = {
            {"none", bc::CON_NONE}, {"max_norm", bc::CON_MAX_NORM}, {"min_max_norm", bc::CON_MIN_MAX_NORM},
            {"unit_norm", bc::CON_UNIT_NORM}, {"non_neg", bc::CON_NON_NEG}};
        auto it = kinds.find(constraint);
        if (it == kinds.end())
          throw py::value_error("unknown constraint " + constraint +
                                "; native constraints: none, max_norm, min_max_norm, unit_norm, non_neg");
        return p.add_param(n, l1, l2, trainable, bc::ConstraintArgs{it->second, min_value, max_value, rate}, rows,
                           mid, last);
      }, py::arg("n"), py::arg("l1") = 0.0f, py::arg("l2") = 0.0f, py::arg("trainable") = true,
         py::arg("constraint") = "none", py::arg("min_value") = 0.0f, py::arg("max_value") = 0.0f,
         py::arg("rate") = 1.0, py::arg("rows") = 1, py::arg("mid") = 0, py::arg("last") = 0,
         "A parameter of n floats in the arena; returns its offset. constraint (with min_value, max_value, rate) "
         "applies after each update to each column of (rows, n / rows), as Keras's MaxNorm, MinMaxNorm, UnitNorm "
         "and NonNeg do. mid, last: the weight's last two axes where its rank is >= 2 (Adafactor factors over "
         "them), else 0.")
      .def("add_dense", [](Program& p, int in, int out, size_t w, long b, int K, int N, int act) {
        if (K <= 0 || N <= 0) throw py::value_error("Dense needs positive sizes");
        p.add_op(std::make_unique<bc::DenseOp>(in, out, w, b, K, N, act));
      }, py::arg("x"), py::arg("out"), py::arg("w"), py::arg("b"), py::arg("K"), py::arg("N"), py::arg("act"))
      .def("add_activation", [](Program& p, int in, int out, int act, int width) {
        if (width <= 0 || p.per_sample(in) % width) throw py::value_error("bad activation width");
        p.add_op(std::make_unique<bc::ActivationOp>(in, out, act, width));
      }, py::arg("x"), py::arg("out"), py::arg("act"), py::arg("width"))
      .def("add_activity_reg", [](Program& p, int in, int out, float l1, float l2) {
        p.add_op(std::make_unique<bc::ActivityRegOp>(in, out, l1, l2));
      }, py::arg("x"), py::arg("out"), py::arg("l1"), py::arg("l2"))
      .def("add_dropout", [](Program& p, int in, int out, float rate, uint64_t stream) {
        p.add_op(std::make_unique<bc::DropoutOp>(in, out, rate, stream));
      }, py::arg("x"), py::arg("out"), py::arg("rate"), py::arg("stream"))
      .def("add_embedding", [](Program& p, int ids, int out, int mask, size_t table, int V, int E) {
        p.add_op(std::make_unique<bc::EmbeddingOp>(ids, out, mask, table, V, E));
      }, py::arg("ids"), py::arg("out"), py::arg("mask"), py::arg("table"), py::arg("V"), py::arg("E"))
      .def("add_recurrent", [](Program& p, const std::string& kind, int x, int mask, const std::vector<int>& outs,
                               size_t w, size_t r, long b, int D, int U, int T, int act, int ract,
                               bool return_sequences, bool return_state, bool go_backwards,
                               bool zero_output_for_mask, bool output_in_input_order, float dropout,
                               float recurrent_dropout, uint64_t stream, const std::vector<int>& initial_state) {
        if (D <= 0 || U <= 0 || T < 0) throw py::value_error("add_recurrent: D and U must be positive, T >= 0");
        check_timesteps(p, "add_recurrent", x, D, T);
        bc::RnnConfig c;
        c.D = D; c.U = U; c.T = T; c.act = act; c.ract = ract;
        c.return_sequences = return_sequences; c.return_state = return_state; c.go_backwards = go_backwards;
        c.zero_output_for_mask = zero_output_for_mask; c.output_in_input_order = output_in_input_order;
        c.has_mask = mask >= 0; c.dropout = dropout; c.recurrent_dropout = recurrent_dropout; c.stream = stream;
        for (int t : initial_state)
          if (t < 0 || t >= p.n_tensors() || p.per_sample(t) != static_cast<size_t>(U))
            throw py::value_error("add_recurrent: an initial state must be a tensor of " + std::to_string(U) +
                                  " values per sample");
        const auto& s0 = initial_state;
        std::unique_ptr<bc::RecurrentOp> op;
        if (kind == "lstm") op = std::make_unique<bc::LstmOp>(c, x, mask, s0, outs, w, r, b);
        else if (kind == "gru") op = std::make_unique<bc::GruOp>(c, x, mask, s0, outs, w, r, b);
        else if (kind == "gru_reset_before") op = std::make_unique<bc::GruBeforeOp>(c, x, mask, s0, outs, w, r, b);
        else if (kind == "simple_rnn") op = std::make_unique<bc::SimpleRnnOp>(c, x, mask, s0, outs, w, r, b);
        else throw py::value_error("unknown recurrent kind '" + kind + "'");
        fold_embedding(p, *op, x);
        p.add_op(std::move(op));
      }, py::arg("kind"), py::arg("x"), py::arg("mask"), py::arg("outs"), py::arg("w"), py::arg("r"), py::arg("b"),
         py::arg("D"), py::arg("U"), py::arg("T"), py::arg("act"), py::arg("ract"), py::arg("return_sequences"),
         py::arg("return_state"), py::arg("go_backwards"), py::arg("zero_output_for_mask"),
         py::arg("output_in_input_order"), py::arg("dropout"), py::arg("recurrent_dropout"), py::arg("stream"),
         py::arg("initial_state") = std::vector<int>())
      .def("add_concat", [](Program& p, const std::vector<int>& ins, int out, const std::vector<int>& widths) {
        p.add_op(std::make_unique<bc::ConcatOp>(ins, out, widths));
      }, py::arg("ins"), py::arg("out"), py::arg("widths"))
      .def("add_merge", [](Program& p, const std::vector<int>& ins, int out, int mode) {
        merged_mask_width(p, ins, {}, out, "a merge");
        p.add_op(std::make_unique<bc::AddOp>(ins, out, mode));
      }, py::arg("ins"), py::arg("out"), py::arg("mode"))
      .def("add_masked_mul", [](Program& p, const std::vector<int>& ins, const std::vector<int>& masks, int out) {
        if (!merged_mask_width(p, ins, masks, out, "Multiply"))
          throw py::value_error("Multiply: a mask must have one value per step");
        p.add_op(std::make_unique<bc::MaskedMulOp>(ins, masks, out));
      }, py::arg("ins"), py::arg("masks"), py::arg("out"),
         "Keras 3's Multiply of masked inputs (a masked step counts as 1); masks: per input, a mask tensor or -1.")
      .def("add_extremum", [](Program& p, const std::vector<int>& ins, const std::vector<int>& masks, int out,
                              bool is_max) {
        if (ins.size() < 2 || masks.size() != ins.size())
          throw py::value_error("add_extremum: at least 2 inputs and one mask (or -1) per input");
        merged_mask_width(p, ins, masks, out, "Maximum / Minimum");
        p.add_op(std::make_unique<bc::ExtremumOp>(ins, masks, out, is_max));
      }, py::arg("ins"), py::arg("masks"), py::arg("out"), py::arg("is_max"),
         "Keras 3's Maximum (is_max) or Minimum: a fold of torch.maximum / minimum with Keras's rule for masked "
         "inputs; masks: per input, a mask tensor or -1.")
      .def("add_mask_or", [](Program& p, const std::vector<int>& masks, int out, bool unmasked_input) {
        for (int m : masks)
          if (p.per_sample(m) != p.per_sample(out)) throw py::value_error("merged masks must have the same shape");
        p.add_op(std::make_unique<bc::MaskOrOp>(masks, out, unmasked_input));
      }, py::arg("masks"), py::arg("out"), py::arg("unmasked_input"),
         "out = the or of the masks (all ones when unmasked_input): a Keras 3 merge's mask.")
      .def("add_qdense", [](Program& p, int in, int out, const py::array& wq, const py::array& scale, long b,
                            int act, float x_scale) {
        const int8_t* w = arrays::checked<int8_t>(wq, "add_qdense: wq", 2);
        const float* s = arrays::shaped<float>(scale, "add_qdense: scale", {wq.shape(1)});
        p.add_op(std::make_unique<bc::QDenseOp>(in, out, w, s, b, arrays::dim(wq, 0), arrays::dim(wq, 1), act,
                                                x_scale));
      }, py::arg("x"), py::arg("out"), py::arg("wq"), py::arg("scale"), py::arg("b"), py::arg("act"),
         py::arg("x_scale"))
      .def("set_inputs", &Program::set_inputs, py::arg("tensors"))
      .def("set_outputs", &Program::set_outputs, py::arg("tensors"))
      .def("set_label", &Program::set_label, py::arg("tensor"), py::arg("label"),
           "What the tensor is, for out-of-memory messages.")
      .def("finalize", &Program::finalize)
      .def("per_sample", &Program::per_sample, py::arg("tensor"))
      .def_property_readonly("arena_size", &Program::arena_size)
      .def_property_readonly("stats_size", &Program::stats_size)
      .def("params", [](py::object self) {
        Program& p = self.cast<Program&>();
        {
          py::gil_scoped_release release;
          p.lock_params();  // the linked weights' current values, brought home
        }
        return arrays::view(self, p.params(), p.arena_size());
      })
      .def("grads", [](py::object self) {
        Program& p = self.cast<Program&>();
        return arrays::view(self, p.grads(), p.arena_size());
      })
      .def("grads_finite", [](Program& p, float scale) {
        py::gil_scoped_release release;
        return p.grads_finite(scale);
      }, py::arg("scale"), "Whether grads() times scale is finite over the trainable parameters (LossScaleOptimizer).")
      .def("opt_slot", [](py::object self, int s) {
        Program& p = self.cast<Program&>();
        if (s < 0 || s >= p.opt_slots()) throw py::index_error("no such optimizer slot");
        return arrays::view(self, p.opt_slot(s), p.arena_size());
      }, py::arg("slot"))
      .def("set_losses", [](Program& p, const std::vector<py::tuple>& specs) {
        std::vector<bc::LossSpec> v;
        for (const auto& t : specs) {
          bc::LossSpec s;
          s.tensor = t[0].cast<int>(); s.target = t[1].cast<int>(); s.kind = t[2].cast<int>();
          s.C = t[3].cast<int>(); s.weight = t[4].cast<float>(); s.from_logits = t[5].cast<bool>();
          s.label_smoothing = t[6].cast<float>();
          s.mask = t.size() > 7 ? t[7].cast<int>() : -1;
          if (t.size() > 8) s.params = arrays::numbers(t[8], "a loss's parameters");
          v.push_back(s);
        }
        p.set_losses(v);
      }, py::arg("specs"))
      .def("set_metrics", [](Program& p, const std::vector<py::tuple>& specs) {
        std::vector<bc::MetricSpec> v;
        for (const auto& t : specs) {
          bc::MetricSpec s;
          s.tensor = t[0].cast<int>(); s.target = t[1].cast<int>(); s.kind = t[2].cast<int>();
          s.C = t[3].cast<int>(); s.params.threshold = t[4].cast<float>();
          s.mask = t.size() > 5 ? t[5].cast<int>() : -1;
          if (t.size() > 6) {  // the metric's constants (metric_params.h), and "weighted"
            py::dict a = t[6].cast<py::dict>();
            metric_params::read(a, s.params);
            if (a.contains("weighted")) s.weighted = a["weighted"].cast<bool>();
          }
          v.push_back(s);
        }
        p.set_metrics(v);
      }, py::arg("specs"))
      .def("set_optimizer", &Program::set_optimizer, py::arg("args"), py::arg("slots"), py::arg("slot_init"),
           "The optimizer's constants and fresh state slots (slot_init in the first, zeros in the others).")
      .def("set_optimizer_args", &Program::set_optimizer_args, py::arg("args"),
           "New optimizer constants (a hyper-parameter changed); the state slots are kept.")
      .def("ema_exchange", [](Program& p, int how) {
        py::gil_scoped_release release;
        p.ema_exchange(how);
      }, py::arg("how"),
           "The EMA slot against the trainable weights: 0 averages into the weights, 1 weights into the "
           "averages, 2 swap.")
      .def("regularization_loss", [](Program& p) {
        py::gil_scoped_release release;
        auto lock = p.lock_params();
        return p.regularization_loss();
      })
      .def("bind", [](const Program& p, const py::list& xs, const py::object& ys, const py::object& sw,
                      const py::object& outs) { return BatchSource(p, xs, ys, sw, outs); },
           py::arg("xs"), py::arg("ys") = py::none(), py::arg("sw") = py::none(), py::arg("outs") = py::none(),
           py::keep_alive<0, 1>(),
           "Checks the arrays of a fit/evaluate/predict call once; the steps then take (idx, start, count).")
      .def("train_step", [](Program& p, const BatchSource& src, const py::object& idx, size_t start, int count,
                            double lr, uint64_t seed, uint64_t step, py::array stats) {
        bc::BatchData d = src.batch(p, idx, start, count);
        double* s = stats_buffer(stats, p);
        py::gil_scoped_release release;
        p.train_step(d, lr, seed, step, s);
      }, py::arg("src"), py::arg("idx"), py::arg("start"), py::arg("count"), py::arg("lr"), py::arg("seed"),
         py::arg("step"), py::arg("stats"),
         "Forward, loss, metrics, backward and the update at rate lr on rows idx[start:start+count] (idx None: "
         "start:start+count); step: the optimizer's iteration count before it.")
      .def("evaluate_step", [](Program& p, const BatchSource& src, const py::object& idx, size_t start, int count,
                               py::array stats) {
        bc::BatchData d = src.batch(p, idx, start, count);
        double* s = stats_buffer(stats, p);
        py::gil_scoped_release release;
        p.evaluate_step(d, s);
      }, py::arg("src"), py::arg("idx"), py::arg("start"), py::arg("count"), py::arg("stats"))
      .def("predict_rows", [](Program& p, const BatchSource& src, size_t start, int count, bool check_finite) {
        bc::BatchData d = src.batch(p, py::none(), start, count);
        d.check_finite = check_finite;
        const std::vector<float*>& o = src.outputs(p, start, count);
        try {
          py::gil_scoped_release release;
          p.predict_step(d, o);
        } catch (const bc::NonFiniteInput& e) {
          throw py::value_error(src.nonfinite_message(e));
        }
      }, py::arg("src"), py::arg("start"), py::arg("count"), py::arg("check_finite") = false,
         "Rows start:start+count of the source's inputs into the same rows of its output arrays.")
      .def("predict_step", [](Program& p, const py::list& xs, size_t start, int count, const py::list& outs,
                              bool check_finite, int mode, uint64_t seed, uint64_t step) {
        const BatchSource src(p, xs, py::none(), py::none(), outs);
        bc::BatchData d = src.batch(p, py::none(), start, count);
        d.check_finite = check_finite;
        if (mode < -1 || mode > 1) throw py::value_error("predict_step: mode must be -1, 0 or 1");
        try {
          py::gil_scoped_release release;
          p.predict_step(d, src.outputs(p, start, count), mode, seed, step);
        } catch (const bc::NonFiniteInput& e) {
          throw py::value_error(src.nonfinite_message(e));
        }
      }, py::arg("xs"), py::arg("start"), py::arg("count"), py::arg("outs"), py::arg("check_finite") = false,
         py::arg("mode") = 0, py::arg("seed") = 0, py::arg("step") = 0,
         "predict_rows in one call, the arrays checked with it: the serving path (one batch per call). mode: "
         "0 inference, 1 training (dropout keyed by seed and step), -1 as each layer call's training= says.")
      .def("set_param_trainable", &Program::set_param_trainable, py::arg("offset"), py::arg("trainable"),
           "Whether the optimizer updates the parameter at this arena offset (a layer's trainable changed).")
      .def("set_op_frozen", &Program::set_op_frozen, py::arg("op"), py::arg("frozen"),
           py::arg("inner") = std::vector<int>(),
           "Op `op`'s frozen mode (a BatchNormalization whose layer's trainable changed); inner: the path of "
           "indices to an op inside op `op` (a TimeDistributed's wrapped layer's), or none.")
      .def("set_call_training", &Program::set_call_training, py::arg("first_op"), py::arg("training"),
           "Ops first_op.. (one layer call's) run in training mode when a run gives no mode (predict_step mode -1).")
      .def("set_profile", &Program::set_profile, py::arg("on"),
           "Time every op's forward and backward from now on (True; resets the totals) or stop (False).")
      .def("profile", &Program::profile,
           "[(forward s, backward s, calls)] per op, then the losses and metrics, then the optimizer update.")
      .def("op_type", &Program::op_type, py::arg("i"), "The C++ class of op i (for profiles).")
      .def_property_readonly("ran_by_rows", &Program::ran_by_rows,
                             "Whether the last predict forward ran by blocks of samples, one per thread.")
      .def_property_readonly("n_ops", &Program::n_ops);
}
