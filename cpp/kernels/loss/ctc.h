// Connectionist temporal classification (Graves et al. 2006): the loss -log p(label | frames) of
// each sample, summed over every alignment by the log-space forward (alpha) and backward (beta)
// recursions, in double, and its gradient for the logits. Keras's ops.ctc_loss (torch backend):
// log_softmax of the logits, torch.nn.functional.ctc_loss(reduction="none", zero_infinity=False).
#pragma once
#include <cstdint>

namespace bc {

struct CtcShape {
  int B = 0, T = 0, C = 0;  // logits (B, T, C)
  int S = 0;                // targets (B, S): the first target_length[b] entries of row b count
  int blank = 0;            // Keras's mask_index
};

// Throws std::invalid_argument (the offending sample named) for a length outside [0, S] / [0, T]
// or a label outside [0, C); torch's rules.
void ctc_check(const CtcShape& s, const float* target, const float* target_length, const float* output_length);

// loss (B): each sample's -log p; +inf where no alignment fits (a label longer than its frames
// allow, counting a blank between repeats), as torch without zero_infinity.
// dlogits (B, T, C), when given: dout[b] * d loss_b / d logits (softmax - posterior over the first
// output_length[b] frames, 0 after them; NaN for an infeasible sample, as torch).
// Computes samples [b0, b1) only: each sample is independent, so a caller may hand ranges to
// threads and the results do not depend on the thread count.
void ctc_loss(const CtcShape& s, int b0, int b1, const float* logits, const float* target,
              const float* target_length, const float* output_length, float* loss, const float* dout = nullptr,
              float* dlogits = nullptr);

}  // namespace bc
