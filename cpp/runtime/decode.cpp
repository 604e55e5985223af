#include "runtime/decode.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <string>

#include "core/rng.h"
#include "kernels/attention/attention.h"
#include "kernels/float/float.h"
#include "kernels/gemm/gemm.h"
#include "kernels/norm/norm.h"

namespace bc {

namespace {
std::vector<float> copy_of(const float* p, size_t n) { return p ? std::vector<float>(p, p + n) : std::vector<float>(); }
const float* ptr(const std::vector<float>& v) { return v.empty() ? nullptr : v.data(); }
}  // namespace

int Decoder::add_buffer(int width) {
  BC_CHECK(width > 0, "decoder: buffer width must be positive");
  bufs_.emplace_back(static_cast<size_t>(width), 0.0f);
  return static_cast<int>(bufs_.size()) - 1;
}

void Decoder::check_buf(int b) const {
  BC_CHECK(b >= 0 && b < static_cast<int>(bufs_.size()), "decoder: no buffer " + std::to_string(b));
}

void Decoder::add_token(int out) {
  check_buf(out);
  Instr s{TOKEN};
  s.out = out;
  prog_.push_back(std::move(s));
}

void Decoder::add_position(int out) {
  check_buf(out);
  Instr s{POSITION};
  s.out = out;
  prog_.push_back(std::move(s));
}

void Decoder::add_embedding(int in, int out, const float* table, int rows) {
  check_buf(in);
  check_buf(out);
  BC_CHECK(rows > 0 && width(in) == 1, "decoder: an embedding reads one id");
  Instr s{EMBED, {in}, out};
  s.rows = rows;
  s.w.push_back(copy_of(table, static_cast<size_t>(rows) * width(out)));
  prog_.push_back(std::move(s));
}

void Decoder::add_add(const std::vector<int>& ins, int out) {
  check_buf(out);
  BC_CHECK(!ins.empty(), "decoder: add needs inputs");
  for (int b : ins) {
    check_buf(b);
    BC_CHECK(width(b) == width(out), "decoder: add inputs must have the output's width");
  }
  prog_.push_back(Instr{ADD, ins, out});
}

void Decoder::add_norm(int in, int out, const float* gamma, const float* beta, float eps, bool rms) {
  check_buf(in);
  check_buf(out);
  BC_CHECK(width(in) == width(out), "decoder: a norm keeps the width");
  Instr s{NORM, {in}, out};
  s.eps = eps;
  s.rms = rms;
  s.w = {copy_of(gamma, width(out)), copy_of(beta, width(out))};
  prog_.push_back(std::move(s));
}

void Decoder::add_dense(int in, int out, const float* W, const float* b, int act) {
  check_buf(in);
  check_buf(out);
  BC_CHECK(act >= ACT_LINEAR && act <= ACT_LAST, "decoder: unknown activation " + std::to_string(act));
  Instr s{DENSE, {in}, out};
  s.act = act;
  s.w = {copy_of(W, static_cast<size_t>(width(in)) * width(out)), copy_of(b, width(out))};
  prog_.push_back(std::move(s));
}

void Decoder::add_attention(int in, int out, const float* Wq, const float* bq, const float* Wk, const float* bk,
                            const float* Wv, const float* bv, const float* Wo, const float* bo, int Nq, int Nkv,
                            int H, int Hv) {
  check_buf(in);
  check_buf(out);
  BC_CHECK(Nq > 0 && Nkv > 0 && Nq % Nkv == 0 && H > 0 && Hv > 0, "decoder: bad attention head sizes");
  const size_t d = width(in), qw = static_cast<size_t>(Nq) * H, kw = static_cast<size_t>(Nkv) * H,
               vw = static_cast<size_t>(Nkv) * Hv, ow = static_cast<size_t>(Nq) * Hv;
  Instr s{ATTEND, {in}, out};
  s.Nq = Nq, s.Nkv = Nkv, s.H = H, s.Hv = Hv;
  s.w = {copy_of(Wq, d * qw), copy_of(bq, qw), copy_of(Wk, d * kw), copy_of(bk, kw),
         copy_of(Wv, d * vw), copy_of(bv, vw), copy_of(Wo, ow * width(out)), copy_of(bo, width(out))};
  s.kcache.assign(static_cast<size_t>(max_len_) * kw, 0.0f);
  s.vcache.assign(static_cast<size_t>(max_len_) * vw, 0.0f);
  s.q.assign(qw, 0.0f);
  s.o.assign(ow, 0.0f);
  if (lse_.size() < static_cast<size_t>(Nq)) lse_.resize(Nq);
  prog_.push_back(std::move(s));
}

// y (N) = x (K) @ W (K, N) + b, then the activation.
static void dense_row(float* y, const float* x, const float* W, const float* b, int K, int N, int act) {
  gemm(false, false, 1, N, K, 1.0f, x, K, W, N, 0.0f, y, N);
  kernels().bias_act_forward(y, b, 1, N, act);
}

void Decoder::run(Instr& s, int token) {
  float* y = bufs_[s.out].data();
  const int W = width(s.out);
  switch (s.kind) {
    case TOKEN:
      y[0] = static_cast<float>(token);
      break;
    case POSITION:
      y[0] = static_cast<float>(pos_);
      break;
    case EMBED: {
      const float id = bufs_[s.in[0]][0];
      BC_CHECK(id >= 0.0f && id < static_cast<float>(s.rows) && id == std::floor(id),
               "decoder: id " + std::to_string(id) + " is outside the embedding's " + std::to_string(s.rows) +
                   " rows");
      const float* row = s.w[0].data() + static_cast<size_t>(id) * W;
      std::copy(row, row + W, y);
      break;
    }
    case ADD: {
      // Sum in input order, into a temporary: an input may be the output buffer.
      std::vector<float> acc(bufs_[s.in[0]]);
      for (size_t i = 1; i < s.in.size(); ++i) {
        const float* x = bufs_[s.in[i]].data();
        for (int j = 0; j < W; ++j) acc[j] += x[j];
      }
      std::copy(acc.begin(), acc.end(), y);
      break;
    }
    case NORM: {
      float mean = 0.0f, rstd = 0.0f;
      std::vector<float> x(bufs_[s.in[0]]);
      norm_forward(y, &mean, &rstd, x.data(), nullptr, ptr(s.w[0]), ptr(s.w[1]), 1, W, s.eps, s.rms);
      break;
    }
    case DENSE: {
      std::vector<float> x(bufs_[s.in[0]]);
      dense_row(y, x.data(), s.w[0].data(), ptr(s.w[1]), static_cast<int>(x.size()), W, s.act);
      break;
    }
    case ATTEND: {
      const std::vector<float> x(bufs_[s.in[0]]);
      const int d = static_cast<int>(x.size()), qw = s.Nq * s.H, kw = s.Nkv * s.H, vw = s.Nkv * s.Hv;
      dense_row(s.q.data(), x.data(), s.w[0].data(), ptr(s.w[1]), d, qw, ACT_LINEAR);
      dense_row(s.kcache.data() + static_cast<size_t>(pos_) * kw, x.data(), s.w[2].data(), ptr(s.w[3]), d, kw,
                ACT_LINEAR);
      dense_row(s.vcache.data() + static_cast<size_t>(pos_) * vw, x.data(), s.w[4].data(), ptr(s.w[5]), d, vw,
                ACT_LINEAR);
      AttnDims dims;
      dims.B = 1, dims.Tq = 1, dims.S = pos_ + 1, dims.Nq = s.Nq, dims.Nkv = s.Nkv, dims.H = s.H, dims.Hv = s.Hv;
      // Every cached key is at or before this position: the causal mask allows them all.
      attention_forward(s.o.data(), lse_.data(), nullptr, s.q.data(), s.kcache.data(), s.vcache.data(), dims,
                        AttnMasks{}, 1.0f / std::sqrt(static_cast<float>(s.H)), AttnDropout{});
      dense_row(y, s.o.data(), s.w[6].data(), ptr(s.w[7]), s.Nq * s.Hv, W, ACT_LINEAR);
      break;
    }
  }
}

const float* Decoder::step(int token, int out) {
  check_buf(out);
  BC_CHECK(pos_ < max_len_, "decoder: the cache holds " + std::to_string(max_len_) +
                                " positions and all are used (reset() starts again)");
  for (Instr& s : prog_) run(s, token);
  ++pos_;
  return bufs_[out].data();
}

int sample_token(const float* logits, int n, float temperature, int top_k, uint64_t seed, uint64_t index) {
  BC_CHECK(n > 0, "sample_token: no logits");
  for (int i = 0; i < n; ++i) BC_CHECK(!std::isnan(logits[i]), "sample_token: the logits hold NaN");
  if (!(temperature > 0.0f)) return static_cast<int>(std::max_element(logits, logits + n) - logits);
  // Candidates by logit, largest first, the lower index first on ties: a fixed order to walk.
  std::vector<int> idx(n);
  std::iota(idx.begin(), idx.end(), 0);
  const int k = top_k > 0 && top_k < n ? top_k : n;
  auto before = [logits](int a, int b) { return logits[a] > logits[b] || (logits[a] == logits[b] && a < b); };
  std::partial_sort(idx.begin(), idx.begin() + k, idx.end(), before);
  const double top = logits[idx[0]];
  std::vector<double> p(k);
  double total = 0.0;
  for (int i = 0; i < k; ++i) total += p[i] = std::exp((logits[idx[i]] - top) / temperature);
  const double u = rng_uniform(rng_key(seed, 0x67656e, index), 0) * total;  // "gen"
  double c = 0.0;
  for (int i = 0; i < k; ++i) {
    c += p[i];
    if (u < c) return idx[i];
  }
  return idx[k - 1];
}

}  // namespace bc
