// int8 linear layers: weight quantization and packing, run-time dispatch and the threading.
// quant.h has the scheme; ref.cpp the portable kernels that define every result.
#include "kernels/quant/quant.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "isa/isa.h"
#include "kernels/float/float.h"
#include "kernels/gemm/gemm.h"

namespace bc {

namespace {

// ---- dispatch: one table, filled with the path cpp/isa/ picks -------------------------------

QuantKernels& table() {
  static QuantKernels k = [] {
    QuantKernels t{};
    fill_quant_ref(t);
    return t;
  }();
  return k;
}

void install(const char* path) {
  QuantKernels k{};
  const std::string p = path;
  if (p == "avx512vnni") fill_quant_avx512vnni(k);
  else if (p == "avxvnni") fill_quant_avxvnni(k);
  else if (p == "avx2") fill_quant_avx2(k);
  else fill_quant_ref(k);
  table() = k;
}

[[maybe_unused]] const bool registered = isa::add_family(
    {"int8",
     {{"avx512vnni", isa::AVX512VNNI | isa::AVX512 | isa::AVX2 | isa::FMA},
      {"avxvnni", isa::AVXVNNI | isa::AVX2 | isa::FMA},
      {"avx2", isa::AVX2 | isa::FMA},
      {"ref", 0}},
     install});

// ---- tiling and threads ----------------------------------------------------------------------

// ~0.5 M multiply-adds per tile (a few microseconds with VNNI). Products below 4 M (under ~15 us
// on one core: a batch-1 1024x1024 layer, a recurrent step) stay in one tile on the calling
// thread: an OpenMP hand-off costs microseconds on an idle machine and milliseconds on a busy
// one (seen: 1024x1024 at batch 1, 7 us on one thread, 18 ms on two with the cores shared).
constexpr double kTileMacs = 5.0e5;
constexpr double kParallelMacs = 4.0e6;
constexpr int kRowQuantum = 24;   // tile rows: a multiple of every kernel's row count (4, 6)
constexpr int kBlockQuantum = 4;  // tile columns: multiples of 64

struct Plan {
  int tm, tb;  // rows and 16-column blocks per tile
  int nm, nb;  // tile counts
};

Plan plan(int M, int N, int K) {
  const int blocks = (N + 15) / 16, groups = (blocks + kBlockQuantum - 1) / kBlockQuantum;
  const double macs = static_cast<double>(M) * N * K;
  const int want =
      macs < kParallelMacs ? 1 : static_cast<int>(std::min(64.0, std::max(1.0, macs / kTileMacs)));
  Plan p{};
  int nb = std::min(want, groups);
  p.tb = (groups + nb - 1) / nb * kBlockQuantum;
  p.nb = (blocks + p.tb - 1) / p.tb;
  int nm = std::max(1, std::min(want / p.nb, M / kRowQuantum));
  p.tm = ((M + nm - 1) / nm + kRowQuantum - 1) / kRowQuantum * kRowQuantum;
  p.nm = (M + p.tm - 1) / p.tm;
  return p;
}

int threads_for(int work_items) {
  return omp_in_parallel() ? 1 : std::max(1, std::min(get_num_threads(), work_items));
}

// Runs f(id, nt) on each member of a team of `threads`, or on the calling thread alone when one:
// even a one-thread parallel region cost libgomp and futex calls worth ~1 us per call, more than
// a batch-1 recurrent step's whole int8 product.
template <class F>
void team(int threads, F&& f) {
  if (threads <= 1) {
    f(0, 1);
    return;
  }
#pragma omp parallel num_threads(threads)
  f(omp_get_thread_num(), omp_get_num_threads());
}

inline void barrier(int nt) {
  if (nt > 1) {
#pragma omp barrier
  }
}

// Member id's share [lo, hi) of n items: contiguous blocks, the same ones call after call.
struct Range {
  int lo, hi;
};
inline Range share(int n, int id, int nt) {
  return {static_cast<int>(static_cast<long>(n) * id / nt),
          static_cast<int>(static_cast<long>(n) * (id + 1) / nt)};
}

// Member id's tiles of t (rows [0, t.M), blocks [0, Np/16)). Rows are the inner index, so each
// thread gets whole column panels (the same ones call after call, which keeps its part of W in
// its own L2 at batch 1).
void run_tiles(const QTile& t, const Plan& p, const QuantKernels& k, int id, int nt) {
  const Range r = share(p.nm * p.nb, id, nt);
  const int blocks = (t.N + 15) / 16;
  for (int idx = r.lo; idx < r.hi; ++idx) {
    const int i0 = (idx % p.nm) * p.tm, b0 = (idx / p.nm) * p.tb;
    QTile s = t;
    s.M = std::min(p.tm, t.M - i0);
    s.xq = t.xq + static_cast<size_t>(i0) * t.Kp;
    s.b0 = b0;
    s.b1 = std::min(blocks, b0 + p.tb);
    if (t.acc) s.acc = t.acc + static_cast<size_t>(i0) * t.N;
    if (t.y) {
      s.y = t.y + static_cast<size_t>(i0) * t.ldy;
      s.x_scale = t.x_scale + i0;
    }
    k.tile(s);
  }
}

// Scratch for one call's quantized activations, owned by the calling thread.
struct Scratch {
  std::vector<uint8_t> xq;
  std::vector<float> t;
};
Scratch& scratch(size_t bytes, size_t rows) {
  static thread_local Scratch s;
  if (s.xq.size() < bytes) s.xq.resize(bytes);
  if (s.t.size() < rows) s.t.resize(rows);
  return s;
}

void check_shape(int K, int N) {
  BC_CHECK(K >= 1 && N >= 1, "QLinear expects K >= 1 and N >= 1, got K=" + std::to_string(K) +
                                 ", N=" + std::to_string(N));
  BC_CHECK(K <= kQuantMaxK, "QLinear supports K <= " + std::to_string(kQuantMaxK) +
                                " (int32 accumulators), got K=" + std::to_string(K));
}

void check_x_scale(float x_scale) {
  BC_CHECK(x_scale == 0.0f || (x_scale >= 1.17549435e-38f && x_scale <= 3.40282347e38f),
           "x_scale must be 0 (dynamic) or a finite float >= FLT_MIN, got " +
               std::to_string(x_scale));
}

}  // namespace

// ---- QLinear ---------------------------------------------------------------------------------

QLinear::QLinear(const float* W, int K, int N) : K_(K), N_(N) {
  check_shape(K, N);
  std::vector<int8_t> wq(static_cast<size_t>(K) * N);
  scale_.assign((N + 15) / 16 * 16, 0.0f);
  for (int n = 0; n < N; ++n) {
    float amax = 0.0f;
    for (int k = 0; k < K; ++k) {
      float a = std::fabs(W[static_cast<size_t>(k) * N + n]);
      BC_CHECK(a <= 3.40282347e38f,
               "QLinear: weights must be finite, got " +
                   std::to_string(W[static_cast<size_t>(k) * N + n]) + " at [" +
                   std::to_string(k) + ", " + std::to_string(n) + "]");
      amax = std::max(amax, a);
    }
    const QuantScale s = quant_scale(amax, false, 0.0f);
    scale_[n] = s.t;
    for (int k = 0; k < K; ++k) {
      float v = W[static_cast<size_t>(k) * N + n] * s.r;
      v = v < -127.0f ? -127.0f : (v > 127.0f ? 127.0f : v);
      wq[static_cast<size_t>(k) * N + n] = static_cast<int8_t>(std::round(v));
    }
  }
  pack(wq.data());
}

QLinear::QLinear(const int8_t* wq, const float* scale, int K, int N) : K_(K), N_(N) {
  check_shape(K, N);
  for (size_t i = 0; i < static_cast<size_t>(K) * N; ++i)
    BC_CHECK(wq[i] != -128,
             "QLinear: int8 weights must lie in [-127, 127], got -128 at flat index " +
                 std::to_string(i));
  scale_.assign((N + 15) / 16 * 16, 0.0f);
  for (int n = 0; n < N; ++n) {
    BC_CHECK(scale[n] > 0.0f && scale[n] <= 3.40282347e38f,
             "QLinear: weight scales must be finite and > 0, got " + std::to_string(scale[n]) +
                 " for column " + std::to_string(n));
    scale_[n] = scale[n];
  }
  pack(wq);
}

void QLinear::pack(const int8_t* wq) {
  Kp_ = (K_ + 3) / 4 * 4;
  Np_ = (N_ + 15) / 16 * 16;
  w_ = AlignedBytes(static_cast<size_t>(Kp_) * Np_);
  corr_.assign(Np_, 0);
  int8_t* w = reinterpret_cast<int8_t*>(w_.data());
  for (int k = 0; k < K_; ++k)
    for (int n = 0; n < N_; ++n) {
      const int8_t v = wq[static_cast<size_t>(k) * N_ + n];
      w[(static_cast<size_t>(n / 16) * (Kp_ / 4) + k / 4) * 64 + 4 * (n % 16) + k % 4] = v;
      corr_[n] += 128 * v;
    }
}

void QLinear::unpack(int8_t* wq) const {
  const int8_t* w = reinterpret_cast<const int8_t*>(w_.data());
  for (int k = 0; k < K_; ++k)
    for (int n = 0; n < N_; ++n)
      wq[static_cast<size_t>(k) * N_ + n] =
          w[(static_cast<size_t>(n / 16) * (Kp_ / 4) + k / 4) * 64 + 4 * (n % 16) + k % 4];
}

void QLinear::acc(int32_t* acc, const int8_t* xq, int M) const {
  BC_CHECK(M >= 0, "QLinear.acc expects M >= 0");
  if (M == 0) return;
  const QuantKernels& k = table();
  Scratch& s = scratch(static_cast<size_t>(M) * Kp_, 0);
  const uint8_t off = static_cast<uint8_t>(k.x_offset);
  for (int m = 0; m < M; ++m) {  // x_q + offset, padded: the byte form the path reads
    uint8_t* d = s.xq.data() + static_cast<size_t>(m) * Kp_;
    const uint8_t* r = reinterpret_cast<const uint8_t*>(xq) + static_cast<size_t>(m) * K_;
    for (int j = 0; j < K_; ++j) d[j] = r[j] ^ off;  // +128 on an int8 is a flip of the top bit
    for (int j = K_; j < Kp_; ++j) d[j] = off;
  }
  QTile t = tile_over(s.xq.data(), M);
  t.acc = acc;
  const Plan p = plan(M, N_, K_);
  team(threads_for(p.nm * p.nb), [&](int id, int nt) { run_tiles(t, p, k, id, nt); });
}

QTile QLinear::tile_over(const uint8_t* xq, int M) const {
  QTile t{};
  t.xq = xq;
  t.M = M;
  t.Kp = Kp_;
  t.w = reinterpret_cast<const int8_t*>(w_.data());
  t.corr = corr_.data();
  t.N = N_;
  t.b0 = 0;
  t.b1 = Np_ / 16;
  return t;
}

void QLinear::forward(float* y, const float* x, const float* b, int M, int act, float x_scale,
                      float* row_scale) const {
  BC_CHECK(M >= 0, "QLinear.forward expects M >= 0");
  BC_CHECK(act >= ACT_LINEAR && act <= ACT_LAST, "QLinear.forward: unknown activation id " +
                                                        std::to_string(act));
  check_x_scale(x_scale);
  if (M == 0) return;
  QTile t{};
  t.y = y;
  t.ldy = N_;
  t.bias = b;
  t.relu = act == ACT_RELU;
  run(t, x, M, act, x_scale);
  if (row_scale) std::copy(t.x_scale, t.x_scale + M, row_scale);
}

void QLinear::forward_into(float* y, int ldy, bool add, const float* x, int M) const {
  BC_CHECK(M >= 0 && ldy >= N_, "QLinear.forward_into expects M >= 0 and ldy >= N");
  if (M == 0) return;
  QTile t{};
  t.y = y;
  t.ldy = ldy;
  t.add = add;
  run(t, x, M, ACT_LINEAR, 0.0f);
}

// Quantizes x into this thread's scratch, then runs the tiles of t (its y, ldy, bias, relu, add
// set by the caller); t.x_scale points at the scratch's row scales afterwards.
void QLinear::run(QTile& out, const float* x, int M, int act, float x_scale) const {
  const QuantKernels& k = table();
  Scratch& s = scratch(static_cast<size_t>(M) * Kp_, M);
  QTile t = tile_over(s.xq.data(), M);
  t.y = out.y;
  t.ldy = out.ldy;
  t.add = out.add;
  t.bias = out.bias;
  t.relu = out.relu;
  t.x_scale = s.t.data();
  t.w_scale = scale_.data();
  out.x_scale = s.t.data();
  float* y = t.y;
  const Plan p = plan(M, N_, K_);
  // Rows are quantized in chunks of ~16 KB of input, then the tiles run, then the activations
  // that need whole rows (softmax) or a transcendental; one parallel region for all three.
  const int rows_per_chunk = std::max(1, 4096 / K_);
  const int chunks = (M + rows_per_chunk - 1) / rows_per_chunk;
  const bool post_act = act != ACT_LINEAR && act != ACT_RELU;
  const Kernels& ew = kernels();
  // One tile (a product below kParallelMacs): quantizing its rows in parallel does not pay either.
  const int tiles = p.nm * p.nb;
  team(threads_for(tiles == 1 ? 1 : std::max(chunks, tiles)), [&](int id, int nt) {
    const Range rc = share(chunks, id, nt);
    for (int c = rc.lo; c < rc.hi; ++c) {
      const int m0 = c * rows_per_chunk, rows = std::min(rows_per_chunk, M - m0);
      k.quantize_rows(s.xq.data() + static_cast<size_t>(m0) * Kp_, s.t.data() + m0,
                      x + static_cast<size_t>(m0) * K_, rows, K_, Kp_, x_scale, k.x_offset);
    }
    barrier(nt);
    run_tiles(t, p, k, id, nt);
    if (!post_act) return;
    barrier(nt);
    const int rpc = std::max(1, 4096 / N_), n = (M + rpc - 1) / rpc;
    const Range ra = share(n, id, nt);
    for (int c = ra.lo; c < ra.hi; ++c)
      ew.bias_act_forward(y + static_cast<size_t>(c) * rpc * N_, nullptr,
                          std::min(rpc, M - c * rpc), N_, act);
  });
}

void quantize_rows(int8_t* xq, float* scale, const float* x, int M, int K, float x_scale) {
  BC_CHECK(M >= 0 && K >= 1, "quantize_rows expects M >= 0 and K >= 1");
  check_x_scale(x_scale);
  const QuantKernels& k = table();
  const int Kp = (K + 3) / 4 * 4;
  Scratch& s = scratch(static_cast<size_t>(M) * Kp, 0);
  k.quantize_rows(s.xq.data(), scale, x, M, K, Kp, x_scale, 0);
  for (int m = 0; m < M; ++m)
    std::memcpy(xq + static_cast<size_t>(m) * K, s.xq.data() + static_cast<size_t>(m) * Kp, K);
}

}  // namespace bc
