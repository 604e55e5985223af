// Sparse Dense inference: building the SELL-16 layout, dispatch, tiling and threads. sparse.h has
// the layout and why; ref.cpp the portable kernels that define every result.
#include "kernels/sparse/sparse.h"

#include <omp.h>

#include <algorithm>
#include <cmath>

#include "isa/isa.h"
#include "kernels/float/float.h"
#include "kernels/gemm/gemm.h"
#include "kernels/quant/quant.h"

namespace bc {

namespace {

// ---- dispatch: one table, filled with the path cpp/isa/ picks -------------------------------

SparseKernels& table() {
  static SparseKernels k = [] {
    SparseKernels t{};
    fill_sparse_ref(t);
    return t;
  }();
  return k;
}

void install(const char* path) {
  SparseKernels k{};
  const std::string p = path;
  if (p == "avx512") fill_sparse_avx512(k);
  else if (p == "avx2") fill_sparse_avx2(k);
  else fill_sparse_ref(k);
  table() = k;
}

[[maybe_unused]] const bool registered = isa::add_family(
    {"sparse", {{"avx512", isa::AVX512 | isa::AVX2 | isa::FMA}, {"avx2", isa::AVX2 | isa::FMA}, {"ref", 0}}, install});

// ---- building the pattern ---------------------------------------------------------------------

void check_shape(int K, int N, const char* what) {
  BC_CHECK(K >= 1 && N >= 1, std::string(what) + " expects K >= 1 and N >= 1, got K=" + std::to_string(K) +
                                 ", N=" + std::to_string(N));
  BC_CHECK(K <= kSparseMaxK, std::string(what) + " supports K <= " + std::to_string(kSparseMaxK) +
                                 " (16-bit indices), got K=" + std::to_string(K));
}

// The pattern of the non-zeros of W (K, N) and their values in SELL order (padding: 0).
template <class T>
SellPattern build(const T* W, int K, int N, std::vector<T>& val) {
  SellPattern p;
  p.K = K;
  p.N = N;
  p.S = (N + 15) / 16;
  p.len.assign(static_cast<size_t>(p.S) * 16, 0);
  for (int k = 0; k < K; ++k)
    for (int n = 0; n < N; ++n) p.len[n] += W[static_cast<size_t>(k) * N + n] != T(0);
  p.ptr.assign(p.S + 1, 0);
  for (int s = 0; s < p.S; ++s) {
    const int L = *std::max_element(p.len.begin() + 16 * s, p.len.begin() + 16 * s + 16);
    p.ptr[s + 1] = p.ptr[s] + L;
  }
  p.idx.assign(p.steps() * 16, static_cast<uint16_t>(K));
  val.assign(p.steps() * 16, T(0));
  std::vector<int32_t> fill(static_cast<size_t>(p.S) * 16, 0);
  for (int k = 0; k < K; ++k)  // k ascending: each column's entries in the chain's order
    for (int n = 0; n < N; ++n) {
      const T w = W[static_cast<size_t>(k) * N + n];
      if (w == T(0)) continue;
      const size_t e = (static_cast<size_t>(p.ptr[n / 16]) + fill[n]++) * 16 + n % 16;
      p.idx[e] = static_cast<uint16_t>(k);
      val[e] = w;
      ++p.nnz;
    }
  return p;
}

template <class T>
void unbuild(const SellPattern& p, const std::vector<T>& val, T* W) {
  std::fill(W, W + static_cast<size_t>(p.K) * p.N, T(0));
  for (int n = 0; n < p.N; ++n)
    for (int j = 0; j < p.len[n]; ++j) {
      const size_t e = (static_cast<size_t>(p.ptr[n / 16]) + j) * 16 + n % 16;
      W[static_cast<size_t>(p.idx[e]) * p.N + n] = val[e];
    }
}

// ---- tiling and threads ----------------------------------------------------------------------

constexpr double kTileWork = 2.5e5;  // multiply-adds per tile: tens of microseconds
// cols path: rows per tile. 16 (one zmm, two ymm per column) measured faster per row than 32 or 64 at
// 1024x1024: xT (K + 1, 16) stays in L1/L2 (64 KB for K = 1024) where (K + 1, 64) spilled to L2.
constexpr int kRowTile = 16;

struct Plan {
  bool cols;
  int tm, nm;  // rows per tile, row tiles
  int ts, ns;  // slices per tile, slice tiles
};

Plan plan(const SellPattern& p, int M) {
  Plan q{};
  q.cols = M >= kColsMinRows;
  q.tm = q.cols ? kRowTile : M;
  q.nm = (M + q.tm - 1) / q.tm;
  const double work = static_cast<double>(M) * (p.steps() * 16 + p.N);
  const int want = static_cast<int>(std::min(64.0, std::max(1.0, work / kTileWork)));
  const int ns = std::max(1, std::min(p.S, (want + q.nm - 1) / q.nm));
  q.ts = (p.S + ns - 1) / ns;
  q.ns = (p.S + q.ts - 1) / q.ts;
  return q;
}

int threads_for(int items) {
  return omp_in_parallel() ? 1 : std::max(1, std::min(get_num_threads(), items));
}

// Scratch of the calling thread (one vector per T and use): the activations as the path reads them.
template <class T, int Use = 0>
std::vector<T>& scratch(size_t n) {
  static thread_local std::vector<T> s;
  if (s.size() < n) s.resize(n);
  return s;
}

// The activation buffer from x (M, K) (float, or int32 holding x_q): rows path (M, K + 1); cols
// path per row tile r, (K + 1, tm) at r * (K + 1) * tm. Column / row K and the rows past M are zero.
template <class T>
void stage(T* buf, const T* x, const Plan& q, int M, int K, int r) {
  const int m0 = r * q.tm, rows = std::min(q.tm, M - m0);
  if (!q.cols) {
    for (int m = 0; m < rows; ++m) {
      T* d = buf + static_cast<size_t>(m0 + m) * (K + 1);
      std::copy(x + static_cast<size_t>(m0 + m) * K, x + static_cast<size_t>(m0 + m + 1) * K, d);
      d[K] = T(0);
    }
    return;
  }
  T* d = buf + static_cast<size_t>(r) * (K + 1) * q.tm;
  transpose32(d, q.tm, x + static_cast<size_t>(m0) * K, K, rows, K);
  for (int k = 0; k <= K; ++k)
    std::fill(d + static_cast<size_t>(k) * q.tm + (k == K ? 0 : rows), d + static_cast<size_t>(k + 1) * q.tm, T(0));
}

// Runs every tile of t (rows [0, M), all slices) from inside a parallel region.
void run_tiles(const SpTile& t, const Plan& q, int K, void (*kern)(const SpTile&), size_t xsize) {
  const int tiles = q.nm * q.ns;
#pragma omp for schedule(static)
  for (int i = 0; i < tiles; ++i) {
    const int r = i % q.nm, sb = i / q.nm, m0 = r * q.tm;
    SpTile s = t;
    s.M = std::min(q.tm, t.M - m0);
    s.s0 = sb * q.ts;
    s.s1 = std::min(t.p->S, s.s0 + q.ts);
    s.y = t.y + static_cast<size_t>(m0) * t.p->N;
    if (t.x_scale) s.x_scale = t.x_scale + m0;
    const char* x = static_cast<const char*>(t.x);
    s.x = x + xsize * (q.cols ? static_cast<size_t>(r) * (K + 1) * q.tm : static_cast<size_t>(m0) * (K + 1));
    s.ld = q.cols ? q.tm : K + 1;
    kern(s);
  }
}

void check_forward(int M, int act, const char* what) {
  BC_CHECK(M >= 0, std::string(what) + ".forward expects M >= 0, got " + std::to_string(M));
  BC_CHECK(act >= ACT_LINEAR && act <= ACT_LAST,
           std::string(what) + ".forward: unknown activation id " + std::to_string(act));
}

// The float epilogue and the non-relu activations of the int8 one, in row chunks.
void bias_act_rows(float* y, const float* b, int M, int N, int act) {
  const int rpc = std::max(1, 4096 / N), n = (M + rpc - 1) / rpc;
  const Kernels& ew = kernels();
#pragma omp for schedule(static)
  for (int c = 0; c < n; ++c)
    ew.bias_act_forward(y + static_cast<size_t>(c) * rpc * N, b, std::min(rpc, M - c * rpc), N, act);
}

}  // namespace

// ---- SparseLinear ----------------------------------------------------------------------------

SparseLinear::SparseLinear(const float* W, int K, int N) {
  check_shape(K, N, "SparseLinear");
  for (size_t i = 0; i < static_cast<size_t>(K) * N; ++i)
    BC_CHECK(std::fabs(W[i]) <= 3.40282347e38f, "SparseLinear: weights must be finite, got " +
                                                      std::to_string(W[i]) + " at flat index " + std::to_string(i));
  p_ = build(W, K, N, val_);
}

size_t SparseLinear::bytes() const {
  return val_.size() * (sizeof(float) + sizeof(uint16_t)) + (p_.len.size() + p_.ptr.size()) * sizeof(int32_t);
}

void SparseLinear::to_dense(float* W) const { unbuild(p_, val_, W); }

void SparseLinear::forward(float* y, const float* x, const float* b, int M, int act) const {
  check_forward(M, act, "SparseLinear");
  if (M == 0) return;
  const SparseKernels& k = table();
  const int K = p_.K, N = p_.N;
  const Plan q = plan(p_, M);
  float* buf = scratch<float>(static_cast<size_t>(q.nm) * (K + 1) * q.tm).data();
  SpTile t{};
  t.p = &p_;
  t.vf = val_.data();
  t.x = buf;
  t.M = M;
  t.y = y;
  const int threads = threads_for(q.nm * q.ns);
#pragma omp parallel num_threads(threads) if (threads > 1)
  {
    FlushDenormals ftz;  // every thread, the caller too: the bits must not depend on which ran a tile
#pragma omp for schedule(static)
    for (int r = 0; r < q.nm; ++r)
      stage(buf, x, q, M, K, r);
    run_tiles(t, q, K, q.cols ? k.f32_cols : k.f32_rows, sizeof(float));
    if (b || act != ACT_LINEAR) bias_act_rows(y, b, M, N, act);
  }
}

// ---- QSparseLinear ---------------------------------------------------------------------------

QSparseLinear::QSparseLinear(const int8_t* wq, const float* scale, int K, int N) {
  check_shape(K, N, "QSparseLinear");
  for (size_t i = 0; i < static_cast<size_t>(K) * N; ++i)
    BC_CHECK(wq[i] != -128, "QSparseLinear: int8 weights must lie in [-127, 127], got -128 at flat index " +
                                std::to_string(i));
  for (int n = 0; n < N; ++n)
    BC_CHECK(scale[n] > 0.0f && scale[n] <= 3.40282347e38f,
             "QSparseLinear: weight scales must be finite and > 0, got " + std::to_string(scale[n]) +
                 " for column " + std::to_string(n));
  std::vector<int8_t> v8;
  p_ = build(wq, K, N, v8);
  val_.assign(v8.begin(), v8.end());
  val_.push_back(0);
  scale_.assign(static_cast<size_t>(p_.S) * 16, 0.0f);
  std::copy(scale, scale + N, scale_.begin());
}

size_t QSparseLinear::bytes() const {
  return val_.size() * (sizeof(int16_t) + sizeof(uint16_t)) + (p_.len.size() + p_.ptr.size()) * sizeof(int32_t) +
         scale_.size() * sizeof(float);
}

void QSparseLinear::to_dense(int8_t* wq) const {
  unbuild(p_, std::vector<int8_t>(val_.begin(), val_.end() - 1), wq);
}

void QSparseLinear::forward(float* y, const float* x, const float* b, int M, int act, float x_scale) const {
  check_forward(M, act, "QSparseLinear");
  BC_CHECK(x_scale == 0.0f || (x_scale >= 1.17549435e-38f && x_scale <= 3.40282347e38f),
           "x_scale must be 0 (dynamic) or a finite float >= FLT_MIN, got " + std::to_string(x_scale));
  if (M == 0) return;
  const SparseKernels& k = table();
  const int K = p_.K, N = p_.N;
  const Plan q = plan(p_, M);
  std::vector<int8_t>& xq = scratch<int8_t>(static_cast<size_t>(M) * K);
  std::vector<float>& ts = scratch<float, 1>(static_cast<size_t>(M));
  int32_t* buf = scratch<int32_t>(static_cast<size_t>(q.nm) * (K + 1) * q.tm).data();
  SpTile t{};
  t.p = &p_;
  t.vq = val_.data();
  t.x = buf;
  t.M = M;
  t.y = y;
  t.x_scale = ts.data();
  t.w_scale = scale_.data();
  t.bias = b;
  t.relu = act == ACT_RELU;
  const bool post_act = act != ACT_LINEAR && act != ACT_RELU;
  const int rows_per_chunk = std::max(1, 4096 / K), chunks = (M + rows_per_chunk - 1) / rows_per_chunk;
  const int threads = threads_for(std::max(chunks, q.nm * q.ns));
  const int8_t* xqp = xq.data();
  int32_t* x32 = scratch<int32_t, 1>(static_cast<size_t>(M) * K).data();
#pragma omp parallel num_threads(threads) if (threads > 1)
  {
    FlushDenormals ftz;
#pragma omp for schedule(static)
    for (int c = 0; c < chunks; ++c) {  // the quantizer of QLinear: the same x_q and t bits
      const int m0 = c * rows_per_chunk, rows = std::min(rows_per_chunk, M - m0);
      quantize_rows(xq.data() + static_cast<size_t>(m0) * K, ts.data() + m0, x + static_cast<size_t>(m0) * K,
                    rows, K, x_scale);
    }
#pragma omp for schedule(static)
    for (int r = 0; r < q.nm; ++r) {  // x_q as the low 16 bits of an int32, then the layout
      const size_t m0 = static_cast<size_t>(r) * q.tm, n = std::min<size_t>(q.tm, M - m0) * K;
      for (size_t i = 0; i < n; ++i) x32[m0 * K + i] = static_cast<uint16_t>(xqp[m0 * K + i]);
      stage(buf, x32 + 0, q, M, K, r);
    }
    run_tiles(t, q, K, q.cols ? k.q8_cols : k.q8_rows, sizeof(int32_t));
    if (post_act) bias_act_rows(y, nullptr, M, N, act);
  }
}

}  // namespace bc
