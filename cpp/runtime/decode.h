// Token-by-token inference of a decoder-only model with a key/value cache: each step runs one
// position through a list of instructions (embedding, add, norm, dense, causal self-attention)
// over one row of values, and the attention reads the keys and values of every earlier position
// from its cache instead of recomputing the prefix. Python (models/generation.py) turns a
// functional model's graph into the instructions and copies the weights in once.
//
// Causal self-attention at position p over the cached rows 0..p gives what the full causal model
// gives at row p, so a greedy run equals full recomputation (to rounding: the products here are
// one-row GEMMs).
#pragma once
#include <cstdint>
#include <utility>
#include <vector>

#include "core/common.h"

namespace bc {

class Decoder {
 public:
  explicit Decoder(int max_len) : max_len_(max_len) { BC_CHECK(max_len > 0, "decoder: max_len must be positive"); }

  // Buffers hold one row of `width` values; instructions name them by the index add_buffer gives.
  int add_buffer(int width);
  void add_token(int out);                  // out[0] = the token id (as float; read by an embedding)
  void add_position(int out);               // out[0] = the position
  void add_embedding(int in, int out, const float* table, int rows);  // table (rows, width of out)
  void add_add(const std::vector<int>& ins, int out);
  void add_norm(int in, int out, const float* gamma, const float* beta, float eps, bool rms);
  // out = act(in @ W + b); W (width of in, width of out), b may be null.
  void add_dense(int in, int out, const float* W, const float* b, int act);
  // Causal self-attention: q, k, v projections of `in` (W (d, N*H) etc., biases may be null),
  // Nq query heads over Nkv key/value heads, then the output projection Wo (Nq*Hv, width of out).
  void add_attention(int in, int out, const float* Wq, const float* bq, const float* Wk, const float* bk,
                     const float* Wv, const float* bv, const float* Wo, const float* bo, int Nq, int Nkv, int H,
                     int Hv);

  void reset() { pos_ = 0; }
  int position() const { return pos_; }
  int max_len() const { return max_len_; }
  // Runs position() with this token, caches its keys and values, advances; returns buffer `out`.
  const float* step(int token, int out);
  int width(int buf) const { return static_cast<int>(bufs_.at(buf).size()); }

 private:
  enum Kind { TOKEN, POSITION, EMBED, ADD, NORM, DENSE, ATTEND };
  struct Instr {
    Instr(Kind k, std::vector<int> i = {}, int o = -1) : kind(k), in(std::move(i)), out(o) {}
    Kind kind;
    std::vector<int> in;
    int out;
    int act = 0, rows = 0, Nq = 1, Nkv = 1, H = 0, Hv = 0;
    float eps = 0.0f;
    bool rms = false;
    // weights (copies): EMBED table; NORM gamma, beta; DENSE W, b; ATTEND Wq bq Wk bk Wv bv Wo bo
    std::vector<std::vector<float>> w;
    std::vector<float> kcache, vcache, q, o;  // ATTEND: (max_len, Nkv*H), (max_len, Nkv*Hv), scratch
  };
  void check_buf(int b) const;
  void run(Instr& s, int token);

  int max_len_, pos_ = 0;
  std::vector<std::vector<float>> bufs_;
  std::vector<Instr> prog_;
  std::vector<float> lse_;  // one per query head
};

// Picks the next token from logits (n): temperature <= 0 takes the argmax (the first on ties);
// otherwise samples from softmax(logits / temperature) restricted to the top_k largest (top_k <= 0
// or >= n: all), drawing one uniform from the counter-based RNG at (seed, index).
int sample_token(const float* logits, int n, float temperature, int top_k, uint64_t seed, uint64_t index);

}  // namespace bc
