"""Connectionist temporal classification (keras.ops.ctc_loss, keras.ops.ctc_decode).

ctc_loss is the native `ctc_loss` primitive (cpp/kernels/loss/ctc.cpp): log-softmax of the logits,
then the log-space forward / backward recursions, as Keras's torch backend (torch's ctc_loss,
reduction "none", no zero_infinity: +inf where a label cannot fit its frames). It records a graph
node on symbolic tensors, so a loss function or a layer calling it trains natively.

ctc_decode runs on arrays, after predict (as programs use it): greedy and beam search are Keras's
torch backend's algorithms step for step (its beam search is a port of the JAX one), in NumPy, so
the paths and scores, ties included, are Keras's.
"""

import numpy as np

from bigcore.ops import node as _node
from bigcore.ops import numpy as _np

_PAD = -1
_KNUTH_HASH_CONSTANT = 2654435769  # Keras's path hash base (int64 overflow intended)


def _class_id(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"`{name}` must be an integer. Received: {name}={value!r}")
    return int(value)


def ctc_loss(target, output, target_length, output_length, mask_index=0):
    """keras.ops.ctc_loss: each sample's -log p(target | output), shape (batch,).

    target (batch, max_length) class ids, the first target_length[b] of row b counting; output
    (batch, frames, classes) logits (log-softmax is applied); output_length (batch,) the frames
    of each sample; mask_index the blank class."""
    mask_index = _class_id("mask_index", mask_index)
    args = [_np.cast(a, "float32") for a in (target, output, target_length, output_length)]
    return _node.apply("ctc_loss", args, {"mask_index": mask_index})


def ctc_decode(inputs, sequence_lengths, strategy="greedy", beam_width=100, top_paths=1, merge_repeated=True,
               mask_index=0):
    """keras.ops.ctc_decode: (paths (top_paths, batch, frames) int32 padded with -1, scores).

    Greedy: one path per sample, scores (batch, 1) the negated sum of each frame's best logit.
    Beam search: top_paths per sample by log probability, scores (batch, top_paths)."""
    if _node.is_symbolic([inputs, sequence_lengths]):
        raise NotImplementedError("bigcore's ctc_decode runs on arrays: call it on the outputs of model.predict() "
                                  "(as Keras programs do), not inside a model or a traced call()")
    if strategy not in ("greedy", "beam_search"):
        raise ValueError(f"Invalid strategy {strategy}. Supported values are 'greedy' and 'beam_search'.")
    x = np.asarray(inputs, np.float32)
    if x.ndim != 3:
        raise ValueError(f"ctc_decode expects inputs of shape (batch_size, max_length, num_classes). "
                         f"Received: inputs.shape={x.shape}")
    lengths = np.asarray(sequence_lengths)
    if lengths.shape != (x.shape[0],):
        raise ValueError(f"ctc_decode expects sequence_lengths of shape (batch_size,) = ({x.shape[0]},). "
                         f"Received: sequence_lengths.shape={lengths.shape}")
    lengths = lengths.astype(np.int64)
    if mask_index is not None:
        mask_index = _class_id("mask_index", mask_index)
    if strategy == "greedy":
        return _greedy(x, lengths, bool(merge_repeated), mask_index)
    beam_width, top_paths = _class_id("beam_width", beam_width), _class_id("top_paths", top_paths)
    if beam_width < 1 or not 1 <= top_paths <= beam_width:
        raise ValueError(f"ctc_decode needs beam_width >= 1 and 1 <= top_paths <= beam_width. "
                         f"Received: beam_width={beam_width}, top_paths={top_paths}")
    return _beam_search(x, lengths, beam_width, top_paths, mask_index)


def _greedy(x, lengths, merge_repeated, mask_index):
    B, T, C = x.shape
    if mask_index is None:
        mask_index = C - 1
    indices = np.argmax(x, axis=-1).astype(np.int32)
    scores = np.max(x, axis=-1)
    past = np.arange(T)[None, :] >= lengths[:, None]
    indices = np.where(past, mask_index, indices)
    scores = np.where(past, np.float32(0.0), scores)
    if merge_repeated:
        repeat = np.pad(indices[:, 1:] == indices[:, :-1], ((0, 0), (1, 0)))
        indices = np.where(repeat, mask_index, indices)
    invalid = indices == mask_index
    indices = np.where(invalid, -1, indices)
    order = np.argsort(np.where(invalid, T, np.arange(T)[None, :]), axis=-1, kind="stable")  # kept labels first
    indices = np.take_along_axis(indices, order, axis=-1).astype(np.int32)
    return indices[None], (-np.sum(scores, axis=1, dtype=np.float32))[:, None]


def _log_softmax(x):
    m = np.max(x, axis=-1, keepdims=True)
    return (x - m - np.log(np.sum(np.exp(x - m), axis=-1, keepdims=True))).astype(np.float32)


def _unique_padded(paths, size, pad):
    """Keras's _unique_padded: the distinct rows ordered by their hash, padded to `size` rows with
    `pad`, and each row's index among them."""
    n, t = paths.shape
    with np.errstate(over="ignore"):
        powers = np.power(np.int64(_KNUTH_HASH_CONSTANT), np.arange(t, dtype=np.int64))
        hashes = np.sum((paths.astype(np.int64) + 1) * powers, axis=1, dtype=np.int64)
    order = np.argsort(hashes, kind="stable")
    sorted_paths, sorted_hashes = paths[order], hashes[order]
    dup = (sorted_hashes[1:] == sorted_hashes[:-1]) & np.all(sorted_paths[1:] == sorted_paths[:-1], axis=1)
    first = np.concatenate([[True], ~dup])
    inverse = np.empty(n, np.int64)
    inverse[order] = np.cumsum(first) - 1
    unique = sorted_paths[first]
    if unique.shape[0] < size:
        unique = np.concatenate([unique, np.full((size - unique.shape[0], t), pad, unique.dtype)])
    return unique, inverse


def _merge_scores(inverse, scores, n):
    """Log-space sum of the scores of equal paths (Keras's _merge_scores)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        top = scores.max()
        out = np.zeros(n, np.float32)
        np.add.at(out, inverse, np.exp(scores - top))
        return (np.log(out) + top).astype(np.float32)


def _beam_extend(paths, scores, masked, x, C, mask_index):
    paths = np.repeat(paths, C, axis=0)
    scores = np.repeat(scores, C)
    masked = np.repeat(masked, C)
    rows = np.arange(paths.shape[0])
    tail = np.argmax(paths == _PAD, axis=1)
    tails = np.where(tail == 0, _PAD, paths[rows, tail - 1])
    classes = np.arange(C, dtype=paths.dtype)
    classes[mask_index] = _PAD
    classes = np.tile(classes, paths.shape[0] // C)
    repeat = ~masked & (tails == classes)  # a class after itself with no blank between merges
    masked = classes == _PAD
    paths[rows, tail] = np.where(repeat, _PAD, classes)
    return paths, (scores + np.tile(x, paths.shape[0] // C)).astype(np.float32), masked


def _beam_prune(paths, scores, masked, C, beam_width):
    unique, inverse = _unique_padded(paths, 2 * C * beam_width, _PAD)
    n = unique.shape[0]
    emit = _merge_scores(inverse, np.where(masked, -np.inf, scores).astype(np.float32), n)
    blank = _merge_scores(inverse, np.where(masked, scores, -np.inf).astype(np.float32), n)
    top = np.argsort(np.logaddexp(emit, blank), kind="stable")[-beam_width:]
    paths = np.tile(unique[top], (2, 1))
    masked = np.concatenate([np.zeros(beam_width, bool), np.ones(beam_width, bool)])
    return paths, np.concatenate([emit[top], blank[top]]), masked


def _beam_search(x, lengths, beam_width, top_paths, mask_index):
    B, T, C = x.shape
    x = _log_softmax(x)
    if mask_index is None:
        mask_index = C - 1
    x = x[:, :, ::-1]  # Keras flips the classes for its tie-breaking, and flips them back at the end
    mask_index = C - mask_index - 1
    n_init = min(C, beam_width)
    all_paths, all_scores = [], []
    for b in range(B):
        xb = x[b]
        paths = np.full((2 * beam_width, T), _PAD, np.int32)
        best = np.argsort(xb[0], kind="stable")[-n_init:]
        paths[:n_init, 0] = np.where(best == mask_index, _PAD, best)
        scores = np.full(2 * beam_width, -np.inf, np.float32)
        scores[:n_init] = xb[0, best]
        masked = paths[:, 0] == _PAD
        for t in range(1, int(lengths[b])):
            paths, scores, masked = _beam_extend(paths, scores, masked, xb[t], C, mask_index)
            paths, scores, masked = _beam_prune(paths, scores, masked, C, beam_width)
        unique, inverse = _unique_padded(paths, 2 * C * beam_width, _PAD)
        merged = _merge_scores(inverse, scores, unique.shape[0])
        top = np.argsort(merged, kind="stable")[-top_paths:][::-1]
        all_paths.append(unique[top])
        all_scores.append(merged[top])
    paths = np.stack(all_paths)
    paths = np.where(paths == _PAD, _PAD, C - paths - 1).astype(np.int32)
    return np.transpose(paths, (1, 0, 2)), np.stack(all_scores).astype(np.float32)
