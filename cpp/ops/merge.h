// Merge layers over the last axis: Concatenate (widths W_k -> sum W_k) and Add (same shapes).
#pragma once
#include <vector>

#include "runtime/op.h"

namespace bc {

// ins (rows, W_k) -> out (rows, sum W_k), rows = B * (per_sample / W_k)
class ConcatOp : public Op {
 public:
  ConcatOp(const std::vector<int>& ins, int out_t, const std::vector<int>& widths);
  void forward(Ctx& c) override;
  void backward(Ctx& c) override;

 private:
  std::vector<int> widths_;
  int total_ = 0;
};

// ins (n) each -> out (n); mode 0: sum, 1: average, 2: multiply, 3: ins[0] - ins[1] (exactly 2)
class AddOp : public Op {
 public:
  AddOp(const std::vector<int>& ins, int out_t, int mode);
  void forward(Ctx& c) override;
  void backward(Ctx& c) override;

 private:
  int mode_;
};

// Keras 3's Multiply of masked inputs: each input counts as 1 at its masked steps, and when every
// input is masked the product is 0 where none is unmasked. ins (n) each; masks[k]: input k's mask
// ((rows) of 0/1, one per n / rows values), or -1 for none.
class MaskedMulOp : public Op {
 public:
  MaskedMulOp(const std::vector<int>& ins, const std::vector<int>& masks, int out_t);
  void forward(Ctx& c) override;
  void backward(Ctx& c) override;

 private:
  float factor(Ctx& c, int k, size_t i, size_t per) const;  // input k's value at i, or 1 where masked
  bool open(Ctx& c, size_t r) const;  // row r of the output counts (some input unmasked there)
  std::vector<int> mask_at_;  // per value input: its mask's index in `in`, or -1
  size_t n_in_ = 0;
  bool all_masked_ = false;
};

// Keras 3's Maximum / Minimum: a left fold of torch.maximum (minimum) over ins (n values each),
// with Keras's rule for masked inputs (keras/src/layers/merging/base_merge.py,
// _apply_merge_op_and_or_mask): at an input's masked steps it takes the running result's value, and
// at the running result's masked steps (while every input so far is masked) the input's value. A
// tie sends half the gradient to each side, NaN the whole of it to both, as torch's backward does.
// masks[k]: input k's mask ((rows) of 0/1, one per n / rows values), or -1 for none.
class ExtremumOp : public Op {
 public:
  ExtremumOp(const std::vector<int>& ins, const std::vector<int>& masks, int out_t, bool is_max);
  void forward(Ctx& c) override;
  void backward(Ctx& c) override;

 private:
  struct Step { float a, b; int m, om; };  // one step of the fold: its operands, x's mask, the running mask
  int mask_of(Ctx& c, size_t k, size_t r) const;  // input k's mask at row r: 1, 0, or -1 (none)
  float pick(float a, float b) const;
  size_t values_per_mask(Ctx& c) const;  // values of out per mask value (1 without masks)
  // Value i of the output; steps (n_in_, may be null) receives each step k >= 1's operands.
  float fold(Ctx& c, size_t i, size_t r, Step* steps) const;
  std::vector<int> mask_at_;  // per value input: its mask's index in `in`, or -1
  size_t n_in_ = 0;
  bool max_ = true;
};

// The Keras 3 mask of a merge: the or of the input masks ((rows) of 0/1 each); all ones when
// `unmasked_input` (Concatenate counts an unmasked input as unmasked everywhere).
class MaskOrOp : public Op {
 public:
  MaskOrOp(const std::vector<int>& masks, int out_t, bool unmasked_input);
  void forward(Ctx& c) override;
  void backward(Ctx& c) override;  // masks carry no gradient: zeros

 private:
  bool unmasked_input_;
};

}  // namespace bc
