"""Fused Numba kernels for minibatch softmax SGD.

The weights are kept as ``coef`` of shape (n_classes, n_features) (scikit-learn's
``coef_`` layout), so every inner loop runs along the contiguous feature axis and
vectorizes.  A minibatch is never copied: rows are read in place through the batch's
index array.  The batch is split into parts of ``_PART`` samples, each summed into its
own slice of a ``(n_parts, ...)`` buffer; the slices are summed in a fixed order (as
STUMPY's ``_stump``), so results are the same bit for bit with any thread count.

Entry points: :func:`_sgd_kernel` and :func:`_minibatch_kernel`, called by ``_numba``.
Every compiled function stays in this file or in :mod:`._vector` (the inner loops, as
LLVM IR), which the cache entries are stamped with too: Numba checks a cached kernel
against its own source file only, so a callee elsewhere could change unnoticed.

Register blocking is what makes the hand-written products beat BLAS on these skinny
shapes: samples go in blocks of four, classes in blocks of five.  The forward pass
scores five classes of four samples per sweep (twenty accumulators; one load of
``w[d]`` feeds four multiply-adds, one of ``x[d]`` five); the backward pass folds the
four samples into five gradient rows per sweep (a read-modify-write of ``grad[c, d]``
per four multiply-adds).  float32 ``exp`` is a vectorized polynomial.

A part is worked through in groups of two blocks (eight rows), and each group in tiles
of ``_TILE`` features: a tile's weight (or gradient) rows stay in L1 while the group's
blocks sweep them, the group's rows stay in L2 from the scores to the gradient, and
every step of every sweep prefetches one cache line of a row of the next group (of the
next batch after a part's last group), so rows stream in from memory at the pace of the
arithmetic, not in bursts that stall it.  The group size, the prefetch distance (one
group ahead, every line) and the tile width were chosen by timing the alternatives at
the learned features' width; with rows from memory, what is left is mostly the wait
on memory.
The weight update runs over column slices fixed by the width, in parallel
(:func:`_step_weights`).
"""
import numba
import numpy as np
from numba import types
from numba.extending import overload

from fastsoftmax._shared.config import EXACT_JIT_OPTIONS, JIT_OPTIONS, OVERLOAD_JIT_OPTIONS, PARALLEL_JIT_OPTIONS
from fastsoftmax._shared.jit import compiled_from, jit
from fastsoftmax.softmax import _vector
from fastsoftmax.softmax._vector import prefetch, tile_fold1, tile_fold5, tile_scores1, tile_scores5

compiled_from(__file__, _vector.__file__)

_BLOCK = 4  # samples per block: scored together, then folded into the gradient together
_CLASS_BLOCK = 5  # classes per sweep, forward and backward (then one at a time)
_GROUP_BLOCKS = 2  # blocks of a group: its rows stay in L2 from the scores to the gradient
_TILE = 256  # features of a tile: its weight (or gradient) rows stay in L1 across a group
_PART = 128  # samples per part of a minibatch: each part sums into its own gradient slice
_STEP_SLICES = 8  # column slices of a large weight update (one per thread at most)
_PARALLEL_STEP_MIN = 1 << 15  # weights below which one thread steps whole rows
_TINY = 1e-30  # probabilities below this count as 0 (far above float32's subnormal range)


@jit(JIT_OPTIONS)
def _prefetch_rows(X, rows, lo, hi):
    """Start loading the rows ``X[rows[lo:hi]]`` while the current ones are computed."""
    step = 64 // X.itemsize
    for i in range(lo, hi):
        row = rows[i]
        for d in range(0, X.shape[1], step):
            prefetch(X, row, d)


@jit(JIT_OPTIONS)
def _ahead(targets, k, p, r0):
    """The row that sweep ``p`` of the block at ``k`` prefetches: the scores' sweeps are
    ``p = 0, 2, ...``, the gradient's ``1, 3, ...``; each of the block's first four
    sweeps takes one of the four next rows ``targets[k:k + 4]``, later ones ``r0`` (in
    cache: a no-op)."""
    return targets[k + p] if p < _BLOCK else r0


@jit(JIT_OPTIONS)
def _group_scores(coef, X, group, n_blocks, sums, lo, hi, targets):
    """``sums[k, c, :] +=`` the lane sums of ``coef[c, lo:hi] * X[group[k], lo:hi]`` for
    the first ``n_blocks`` blocks of the group (one tile)."""
    n_classes = coef.shape[0]
    for k in range(0, n_blocks * _BLOCK, _BLOCK):
        r0, r1, r2, r3 = group[k], group[k + 1], group[k + 2], group[k + 3]
        c = 0
        p = 0
        while c + _CLASS_BLOCK <= n_classes:
            tile_scores5(coef, c, X, r0, r1, r2, r3, sums, k, lo, hi, _ahead(targets, k, p, r0))
            c += _CLASS_BLOCK
            p += 2
        while c < n_classes:
            tile_scores1(coef, c, X, r0, r1, r2, r3, sums, k, lo, hi, _ahead(targets, k, p, r0))
            c += 1
            p += 2


@jit(JIT_OPTIONS)
def _group_gradient(grad, dscores, X, group, n_blocks, lo, hi, targets):
    """``grad[:, lo:hi] += dscores[k].T @ X[group[k], lo:hi]`` over the first ``n_blocks``
    blocks of the group (one tile)."""
    n_classes = grad.shape[0]
    for k in range(0, n_blocks * _BLOCK, _BLOCK):
        r0, r1, r2, r3 = group[k], group[k + 1], group[k + 2], group[k + 3]
        c = 0
        p = 1
        while c + _CLASS_BLOCK <= n_classes:
            tile_fold5(grad, c, dscores, k, X, r0, r1, r2, r3, lo, hi, _ahead(targets, k, p, r0))
            c += _CLASS_BLOCK
            p += 2
        while c < n_classes:
            tile_fold1(grad, c, dscores, k, X, r0, r1, r2, r3, lo, hi, _ahead(targets, k, p, r0))
            c += 1
            p += 2


@jit(JIT_OPTIONS)
def _next_rows(X, rows, following, g0, hi, group, n_blocks, n_classes, targets):
    """Fill ``targets`` with the rows after the group's own (up to ``hi``, then
    ``following``; ``group[0]`` past both) and prefetch at once those that no sweep
    will: a block has ``2 * (n_classes // 5 + n_classes % 5)`` sweeps (two for five
    classes), and blocks past ``n_blocks`` have none."""
    size = group.shape[0]
    sweeps = 2 * (n_classes // _CLASS_BLOCK + n_classes % _CLASS_BLOCK)
    after = min(hi, g0 + size)  # a part's last group may be short
    for k in range(size):
        j = after + k
        if j < hi:
            targets[k] = rows[j]
        elif j - hi < following.shape[0]:
            targets[k] = following[j - hi]
        else:
            targets[k] = group[0]
        if k % _BLOCK >= sweeps or k >= n_blocks * _BLOCK:
            _prefetch_rows(X, targets, k, k + 1)


# Cephes' expf: exp(x) = 2**k * exp(r), k = round(x / ln 2), ln 2 split in two parts so
# that r = x - k ln 2 is exact, and a degree-6 polynomial for exp(r) on |r| <= ln(2)/2.
_LOG2E = np.float32(1.44269504088896341)
_LN2_HI = np.float32(0.693359375)
_LN2_LO = np.float32(-2.12194440e-4)
_EXP_MIN = np.float32(-87.0)  # exp(-87) ~ 1.6e-38, still a normal float32


def _exp_nonpositive(values, n, pow2_bits):
    """``values[:n] = exp(values[:n])`` for ``values <= 0`` (the max-shifted scores).

    float32: Cephes' ``expf`` as one vectorizable loop (relative error below 3e-7, as
    libm's ``expf``), with ``2**k`` assembled from its exponent bits in ``pow2_bits``
    (int32 scratch of length >= n).  A call to libm per score cost about a tenth of a
    training step.  Other dtypes: ``np.exp``.
    """
    values[:n] = np.exp(values[:n])


@overload(_exp_nonpositive, jit_options=OVERLOAD_JIT_OPTIONS)
def _exp_nonpositive_overload(values, n, pow2_bits):
    if values.dtype != types.float32:
        def exp_generic(values, n, pow2_bits):
            for i in range(n):
                values[i] = np.exp(values[i])

        return exp_generic

    def exp_float32(values, n, pow2_bits):
        for i in range(n):
            x = max(values[i], _EXP_MIN)
            k = np.floor(x * _LOG2E + np.float32(0.5))
            r = x - k * _LN2_HI - k * _LN2_LO
            p = np.float32(1.9875691500e-4)
            p = p * r + np.float32(1.3981999507e-3)
            p = p * r + np.float32(8.3334519073e-3)
            p = p * r + np.float32(4.1665795894e-2)
            p = p * r + np.float32(1.6666665459e-1)
            p = p * r + np.float32(5.0000001201e-1)
            values[i] = p * (r * r) + r + np.float32(1.0)
            pow2_bits[i] = (np.int32(k) + np.int32(127)) << np.int32(23)
        pow2 = pow2_bits.view(np.float32)
        for i in range(n):
            values[i] *= pow2[i]

    return exp_float32


@jit(JIT_OPTIONS)
def _rows_loss_grad(X, y, rows, lo, hi, coef, intercept, grad, grad_intercept, n_batch,
                    weights, following, prime):
    """Loss sum and gradient of the mean batch loss over ``rows[lo:hi]``.

    ``grad``/``grad_intercept`` are overwritten with this chunk's share of the
    gradient of the batch mean (each sample weighs ``1 / n_batch``, or
    ``weights[row] / n_batch`` where ``n_batch`` is then the batch's weight sum).
    Returns the chunk's summed (weighted) loss in float64.  ``weights=None`` compiles
    a specialization of its own, with the weighted lines pruned.  ``following`` are the
    rows this thread is expected to take next (the next batch's), prefetched during the
    last group; ``prime`` prefetches the first group before starting.
    """
    n_classes = coef.shape[0]
    width = X.shape[1]
    main = width - width % (2 * _vector.VECTOR_BYTES // X.itemsize)  # whole cache lines
    grad[:, :] = 0
    # Scratch written on every sample is allocated here, by the thread that uses it:
    # slices of one shared array would sit in the same cache lines across threads
    # (false sharing) and cost more than the arithmetic.
    size = _GROUP_BLOCKS * _BLOCK
    sums = np.empty((size, n_classes, _vector.VECTOR_BYTES // X.itemsize), dtype=coef.dtype)
    dscores = np.empty((size, n_classes), dtype=coef.dtype)
    shifted = np.empty(size * n_classes, dtype=coef.dtype)  # flat, so exp runs in one loop
    pow2_bits = np.empty(size * n_classes, dtype=np.int32)
    shifted_label = np.empty(size, dtype=np.float64)
    group = np.empty(size, dtype=np.int64)
    targets = np.empty(size, dtype=np.int64)
    grad_b = np.zeros(n_classes, dtype=coef.dtype)
    inv_n = 1.0 / n_batch
    loss = 0.0
    if prime:
        _prefetch_rows(X, rows, lo, min(hi, lo + size))
    for g0 in range(lo, hi, size):
        n_group = min(size, hi - g0)
        n_blocks = (n_group + _BLOCK - 1) // _BLOCK
        # A short group repeats its last row; the copies' scores are ignored and their
        # gradient weights are zero, so every block runs the same kernels.
        for k in range(size):
            group[k] = rows[g0 + min(k, n_group - 1)]
        _next_rows(X, rows, following, g0, hi, group, n_blocks, n_classes, targets)
        sums[:, :, :] = 0
        for t in range(0, main, _TILE):
            _group_scores(coef, X, group, n_blocks, sums, t, min(main, t + _TILE), targets)
        for k in range(n_group):
            row = group[k]
            for c in range(n_classes):
                score = intercept[c]
                for lane in range(sums.shape[2]):
                    score += sums[k, c, lane]
                for d in range(main, width):  # rows not padded to whole cache lines
                    score += coef[c, d] * X[row, d]
                dscores[k, c] = score
        for k in range(n_group):
            s = dscores[k]
            smax = s[0]
            for c in range(1, n_classes):
                smax = max(smax, s[c])
            for c in range(n_classes):
                shifted[k * n_classes + c] = s[c] - smax
            shifted_label[k] = shifted[k * n_classes + y[group[k]]]
        _exp_nonpositive(shifted, n_group * n_classes, pow2_bits)
        for k in range(n_group):
            e = shifted[k * n_classes:(k + 1) * n_classes]
            total = 0.0
            for c in range(n_classes):
                total += e[c]
            # log-sum-exp form: finite even when the true class's probability underflows
            if weights is None:
                loss += np.log(total) - shifted_label[k]
                share = inv_n
            else:
                weight = np.float64(weights[group[k]])
                loss += weight * (np.log(total) - shifted_label[k])
                share = weight * inv_n
            scale = share / total
            s = dscores[k]
            for c in range(n_classes):
                p = e[c] * scale
                # Flush negligible probabilities to zero: stored as float32 they would be
                # subnormal, and subnormal operands slow the gradient's multiply-adds by
                # orders of magnitude once training makes the scores confident.
                s[c] = p if p > _TINY else 0.0
            s[y[group[k]]] -= share
            for c in range(n_classes):
                grad_b[c] += s[c]
        dscores[n_group:, :] = 0.0
        for t in range(0, main, _TILE):
            _group_gradient(grad, dscores, X, group, n_blocks, t, min(main, t + _TILE), targets)
        for d in range(main, width):
            for k in range(n_group):
                value = X[group[k], d]
                for c in range(n_classes):
                    grad[c, d] += dscores[k, c] * value
    grad_intercept[:] = grad_b
    return loss


@jit(PARALLEL_JIT_OPTIONS)
def _batch_loss_grad(X, y, rows, coef, intercept, grad_parts, grad_intercept_parts, loss_parts,
                     parallel, weights, n_batch, next_rows, prime):
    """Split the batch into ``_PART``-sample parts; fill one buffer slice per part.

    The parts depend on the batch size only, so the per-part sums and their serial
    sums in :func:`_step_weights` are the same whichever thread computes a part and however
    many there are.  With ``parallel`` False the parts run on the calling thread:
    waking the pool would cost more than it saves on small batches.  Returns the
    number of parts.  ``n_batch`` is :func:`_batch_weight`'s divisor; part ``t``
    prefetches part ``t`` of ``next_rows`` (the next batch) at its end, the rows its
    thread takes next where the pool's threads take one part each.
    """
    n = rows.shape[0]
    n_parts = max(1, (n + _PART - 1) // _PART)
    if not parallel or n_parts == 1:
        for t in range(n_parts):
            lo = t * _PART
            loss_parts[t] = _rows_loss_grad(
                X, y, rows, lo, min(n, lo + _PART), coef, intercept, grad_parts[t],
                grad_intercept_parts[t], n_batch, weights, next_rows[lo:lo + _PART], prime)
        return n_parts
    for t in numba.prange(n_parts):
        lo = t * _PART
        loss_parts[t] = _rows_loss_grad(
            X, y, rows, lo, min(n, lo + _PART), coef, intercept, grad_parts[t],
            grad_intercept_parts[t], n_batch, weights, next_rows[lo:lo + _PART], prime)
    return n_parts


@jit(JIT_OPTIONS)
def _batch_weight(rows, weights):
    """The divisor of a batch's mean loss: its size, or the sum of its weights.

    A batch whose weights are all zero contributes exact zeros (loss and gradient);
    its divisor is 1 so that they stay zeros instead of ``0 / 0``.
    """
    if weights is None:
        return rows.shape[0]
    total = 0.0
    for i in range(rows.shape[0]):
        total += weights[rows[i]]
    return total if total > 0.0 else 1.0


@jit(JIT_OPTIONS)
def _sum_small_parts(grad_intercept_parts, loss_parts, n_parts):
    """Sum the parts' intercept gradients into slice 0 and return the summed loss,
    serially in a fixed order."""
    for t in range(1, n_parts):
        for c in range(grad_intercept_parts.shape[1]):
            grad_intercept_parts[0, c] += grad_intercept_parts[t, c]
    total = 0.0
    for t in range(n_parts):
        total += loss_parts[t]
    return total


@jit(EXACT_JIT_OPTIONS)
def _is_finite(value):
    """``np.isfinite`` compiled without fast-math flags.

    Inside the fast-math kernels LLVM may fold ``isfinite`` (numba's ``x - x`` ordered
    with itself) to True, and the divergence guard then never fires.
    """
    return np.isfinite(value)


@jit(JIT_OPTIONS)
def _row_norms(row):
    """``sum |w|`` and ``sum w**2`` of a weight row, in float64."""
    abs_sum = 0.0
    sq_sum = 0.0
    for d in range(row.shape[0]):
        w = np.float64(row[d])
        abs_sum += abs(w)
        sq_sum += w * w
    return abs_sum, sq_sum


@jit(JIT_OPTIONS)
def _penalty(coef, l1, l2):
    abs_sum = 0.0
    sq_sum = 0.0
    for c in range(coef.shape[0]):
        a, s = _row_norms(coef[c])
        abs_sum += a
        sq_sum += s
    return l1 * abs_sum + 0.5 * l2 * sq_sum


@jit(JIT_OPTIONS)
def _update_row(w, velocity, g, c, lo, hi, lr, l1, l2, l1_proximal, momentum):
    """One SGD (+momentum) step on ``w[c, lo:hi]`` with gradient ``g[c, lo:hi]``, then the
    L1 proximal step if asked; returns the new ``sum |w|, sum w**2`` there, in float64.

    The 2-D arrays are indexed in place, not sliced (a slice's reference count is an
    atomic that the threads share), which is no slower than slices and folds the
    norms' pass into the step's.
    """
    threshold = lr * l1
    abs_sum = 0.0
    sq_sum = 0.0
    for d in range(np.uint64(lo), np.uint64(hi)):
        step = g[c, d] + l2 * w[c, d]
        if l1 != 0.0 and not l1_proximal:
            step += l1 * np.sign(w[c, d])
        if momentum != 0.0:
            velocity[c, d] = momentum * velocity[c, d] - lr * step
            wd = w[c, d] + velocity[c, d]
        else:
            wd = w[c, d] - lr * step
        if l1 != 0.0 and l1_proximal:
            wd = np.sign(wd) * max(abs(wd) - threshold, 0.0)
        w[c, d] = wd
        stored = np.float64(w[c, d])
        abs_sum += abs(stored)
        sq_sum += stored * stored
    return abs_sum, sq_sum


@jit(JIT_OPTIONS)
def _step_slice(coef, velocity_coef, grad_parts, n_parts, s, size, lr, l1, l2, l1_proximal,
                momentum, norm_parts):
    """Update the columns of slice ``s`` (``size`` wide), one weight row at a time while
    it is in L1: sum the parts' gradients into part 0, step, and put the new rows'
    ``sum |w|, sum w**2`` (the next step's penalty) in ``norm_parts[s]``."""
    lo = min(coef.shape[1], s * size)
    hi = min(coef.shape[1], lo + size)
    norm_parts[s, :] = 0.0
    grad = grad_parts[0]
    for c in range(coef.shape[0]):
        for part in range(1, n_parts):
            for d in range(np.uint64(lo), np.uint64(hi)):
                grad[c, d] += grad_parts[part, c, d]
        a, q = _update_row(coef, velocity_coef, grad, c, lo, hi, lr, l1, l2, l1_proximal,
                           momentum)
        norm_parts[s, 0] += a
        norm_parts[s, 1] += q


@jit(PARALLEL_JIT_OPTIONS)
def _step_weights(coef, velocity_coef, grad_parts, n_parts, lr, l1, l2, l1_proximal, momentum,
                  norm_parts, parallel):
    """Sum the parts' gradients, step the weights and return the new penalty, over
    ``norm_parts.shape[0]`` column slices of whole cache lines, in parallel when
    ``parallel``.  The slices depend on the width alone and their norms are summed in
    slice order, so the result is the same bit for bit with any thread count."""
    n_slices = norm_parts.shape[0]
    line = 64 // coef.itemsize
    size = ((coef.shape[1] + n_slices - 1) // n_slices + line - 1) // line * line  # in lines
    if parallel:
        for s in numba.prange(n_slices):
            _step_slice(coef, velocity_coef, grad_parts, n_parts, s, size, lr, l1, l2,
                        l1_proximal, momentum, norm_parts)
    else:
        for s in range(n_slices):
            _step_slice(coef, velocity_coef, grad_parts, n_parts, s, size, lr, l1, l2,
                        l1_proximal, momentum, norm_parts)
    if l1 == 0.0 and l2 == 0.0:
        return 0.0
    abs_sum = 0.0
    sq_sum = 0.0
    for s in range(n_slices):
        abs_sum += norm_parts[s, 0]
        sq_sum += norm_parts[s, 1]
    return l1 * abs_sum + 0.5 * l2 * sq_sum


@jit(JIT_OPTIONS, notice="the {dtype} training kernel", compile_seconds=15)
def _sgd_kernel(X, y, coef, intercept, velocity_coef, velocity_intercept, batch_indices,
                batch_starts, learning_rates, l1, l2, l1_proximal, momentum, grad_parts,
                grad_intercept_parts, loss_parts, losses, parallel, weights):
    """Minibatch SGD, in place; same semantics as ``_numpy.sgd``.

    Writes the minibatch loss (data + penalty, before the update) of each step to
    ``losses`` and returns the number of steps taken: fewer than planned when a loss
    is not finite (that step's loss is written, its update is not made).
    """
    n_batches = batch_starts.shape[0] - 1
    penalty = _penalty(coef, l1, l2) if l1 != 0.0 or l2 != 0.0 else 0.0
    n_slices = _STEP_SLICES if coef.size >= _PARALLEL_STEP_MIN else 1  # whole rows: small
    norm_parts = np.empty((_STEP_SLICES, 2), dtype=np.float64)
    for t in range(n_batches):
        rows = batch_indices[batch_starts[t]:batch_starts[t + 1]]
        n_batch = _batch_weight(rows, weights)
        next_rows = batch_indices[batch_starts[min(t + 1, n_batches)]:
                                  batch_starts[min(t + 2, n_batches)]]
        n_parts = _batch_loss_grad(X, y, rows, coef, intercept, grad_parts,
                                   grad_intercept_parts, loss_parts, parallel, weights, n_batch,
                                   next_rows, t == 0)
        loss = _sum_small_parts(grad_intercept_parts, loss_parts, n_parts) / n_batch + penalty
        losses[t] = loss
        if not _is_finite(loss):
            return t
        penalty = _step_weights(coef, velocity_coef, grad_parts, n_parts, learning_rates[t], l1,
                                l2, l1_proximal, momentum, norm_parts[:n_slices],
                                parallel and n_slices > 1)
        # the bias is not penalized
        n_classes = intercept.shape[0]
        _update_row(intercept.reshape((1, n_classes)), velocity_intercept.reshape((1, n_classes)),
                    grad_intercept_parts, 0, 0, n_classes, learning_rates[t], 0.0, 0.0,
                    l1_proximal, momentum)
    return n_batches


@jit(JIT_OPTIONS, notice="the {dtype} loss-and-gradient kernel", compile_seconds=10)
def _minibatch_kernel(X, y, coef, intercept, l1, l2, parallel, weights):
    """:func:`minibatch_loss_grad` in one call from Python: buffers, parts, their sum
    and the penalty, without a dispatch or a NumPy temporary per step."""
    n_samples = X.shape[0]
    n_classes, n_features = coef.shape
    n_parts = max(1, (n_samples + _PART - 1) // _PART)
    grad_parts = np.empty((n_parts, n_classes, n_features), dtype=coef.dtype)
    grad_intercept_parts = np.empty((n_parts, n_classes), dtype=coef.dtype)
    loss_parts = np.empty(n_parts, dtype=np.float64)
    rows = np.arange(n_samples)
    n_batch = _batch_weight(rows, weights)
    _batch_loss_grad(X, y, rows, coef, intercept, grad_parts, grad_intercept_parts, loss_parts,
                     parallel, weights, n_batch, rows[:0], True)
    for t in range(1, n_parts):  # in a fixed order
        grad_parts[0] += grad_parts[t]
    loss = _sum_small_parts(grad_intercept_parts, loss_parts, n_parts) / n_batch
    grad = grad_parts[0]
    if l1 != 0.0 or l2 != 0.0:
        loss += _penalty(coef, l1, l2)
        for c in range(n_classes):
            for d in range(n_features):
                grad[c, d] += l2 * coef[c, d] + l1 * np.sign(coef[c, d])
    return loss, grad, grad_intercept_parts[0].copy()
