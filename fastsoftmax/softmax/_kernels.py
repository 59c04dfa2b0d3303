"""Fused Numba kernels for minibatch softmax SGD.

The weights are kept as ``coef`` of shape (n_classes, n_features) (scikit-learn's
``coef_`` layout), so every inner loop runs along the contiguous feature axis and
vectorizes.  A minibatch is never copied: rows are read in place through the batch's
index array.  The batch is split into parts of ``_PART`` samples, each summed into its
own slice of a ``(n_parts, ...)`` buffer; the slices are summed in a fixed order (as
STUMPY's ``_stump``), so results are the same bit for bit with any thread count.

Entry points: :func:`_sgd_kernel` and :func:`_minibatch_kernel`, called by ``_numba``.
Every compiled function stays in this one file: Numba checks a cached kernel against
its own source file only, so a callee elsewhere could change unnoticed.

Register blocking is what makes the hand-written products beat BLAS on these skinny
shapes: samples go in blocks of four, classes in blocks of five.  The forward pass
scores five classes of four samples per sweep (twenty accumulators; one load of
``w[d]`` feeds four multiply-adds, one of ``x[d]`` five); the backward pass folds the
four samples into five gradient rows per sweep (a read-modify-write of ``grad[c, d]``
per four multiply-adds).  float32 ``exp`` is a vectorized polynomial.

On a training set larger than the cache the next rows are prefetched into L2.  Rows of
the study's 512 features go 16 rows ahead before each block (into L1, they overflow its
miss buffers).  Rows over 8 KiB (the 6,400 learned features) get the next block's four
rows prefetched during the gradient sweeps, 8 lines of each after every 256 features
(:func:`_gradient4`): bursts of 400 prefetches a row stall the kernel's own loads, and the
hardware prefetcher stops at every 4 KiB page.  At D=6,400, 50,000 rows, batch 256 (the
2-core development machine) that took an update from 0.65-0.68 ms to 0.55-0.61 against
one row ahead in bursts; spreading over the forward sweeps too, two blocks ahead, every
other line, or 128 or 512 features a segment measured slower (a segment costs about
50 ns: the loop's alias checks and prefetches).  The weight update runs over column
slices fixed by the width, in parallel (:func:`_step_weights`): 0.02-0.03 ms less of
the 0.045 ms it took serially.
"""
import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic, overload

from .._config import EXACT_JIT_OPTIONS, JIT_OPTIONS, OVERLOAD_JIT_OPTIONS, PARALLEL_JIT_OPTIONS
from .._jit import jit

_BLOCK = 4  # samples per block: scored together, then folded into the gradient together
_CLASS_BLOCK = 5  # classes per sweep, forward and backward (then one at a time)
_PART = 128  # samples per part of a minibatch: each part sums into its own gradient slice
_PREFETCH_BYTES = 32 * 1024  # how far ahead rows are prefetched: 16 rows of 512 float32
_PREFETCH_MAX_ROWS = 16
_SEGMENT = 256  # features of a gradient sweep between two prefetch points
_STEP_SLICES = 8  # column slices of a large weight update (one per thread at most)
_PARALLEL_STEP_MIN = 1 << 15  # weights below which one thread steps whole rows
_TINY = 1e-30  # probabilities below this count as 0 (far above float32's subnormal range)


@intrinsic
def _prefetch(typingctx, array, row, col):
    """Hint the CPU to load ``array[row, col]``'s cache line into L2 (``llvm.prefetch``)."""
    sig = types.void(array, row, col)

    def codegen(context, builder, signature, args):
        array_type = signature.args[0]
        view = context.make_array(array_type)(context, builder, args[0])
        pointer = cgutils.get_item_pointer(context, builder, array_type, view, [args[1], args[2]])
        byte_pointer = ir.IntType(8).as_pointer()
        i32 = ir.IntType(32)
        function = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(ir.VoidType(), [byte_pointer, i32, i32, i32]),
            "llvm.prefetch.p0i8",
        )
        # read access, locality 1 (prefetcht2: into L2, not L1), data cache
        builder.call(function, [builder.bitcast(pointer, byte_pointer), i32(0), i32(1), i32(1)])
        return context.get_dummy_value()

    return sig, codegen


@jit(JIT_OPTIONS)
def _prefetch_rows(X, rows, lo, hi):
    """Start loading the rows ``X[rows[lo:hi]]`` while the current ones are computed."""
    step = 64 // X.itemsize
    for i in range(lo, hi):
        row = rows[i]
        for d in range(0, X.shape[1], step):
            _prefetch(X, row, d)


@jit(JIT_OPTIONS)
def _add5(row, c, p0, p1, p2, p3, p4):
    """``row[c:c+5] += (p0, ..., p4)``."""
    row[c] += p0
    row[c + 1] += p1
    row[c + 2] += p2
    row[c + 3] += p3
    row[c + 4] += p4


@jit(JIT_OPTIONS)
def _dot5x4(coef, c, x0, x1, x2, x3, out):
    """``out[k, c:c+5] += coef[c:c+5] @ x_k`` for four samples in one sweep: twenty
    accumulators, nine loads a step."""
    w0 = coef[c]
    w1 = coef[c + 1]
    w2 = coef[c + 2]
    w3 = coef[c + 3]
    w4 = coef[c + 4]
    a0 = a1 = a2 = a3 = a4 = x0.dtype.type(0)
    b0 = b1 = b2 = b3 = b4 = x0.dtype.type(0)
    e0 = e1 = e2 = e3 = e4 = x0.dtype.type(0)
    f0 = f1 = f2 = f3 = f4 = x0.dtype.type(0)
    for d in range(x0.shape[0]):
        v0 = x0[d]
        v1 = x1[d]
        v2 = x2[d]
        v3 = x3[d]
        u = w0[d]
        a0 += u * v0
        b0 += u * v1
        e0 += u * v2
        f0 += u * v3
        u = w1[d]
        a1 += u * v0
        b1 += u * v1
        e1 += u * v2
        f1 += u * v3
        u = w2[d]
        a2 += u * v0
        b2 += u * v1
        e2 += u * v2
        f2 += u * v3
        u = w3[d]
        a3 += u * v0
        b3 += u * v1
        e3 += u * v2
        f3 += u * v3
        u = w4[d]
        a4 += u * v0
        b4 += u * v1
        e4 += u * v2
        f4 += u * v3
    _add5(out[0], c, a0, a1, a2, a3, a4)
    _add5(out[1], c, b0, b1, b2, b3, b4)
    _add5(out[2], c, e0, e1, e2, e3, e4)
    _add5(out[3], c, f0, f1, f2, f3, f4)


@jit(JIT_OPTIONS)
def _dot1x4(coef, c, x0, x1, x2, x3, out):
    """``out[k, c] += coef[c] @ x_k`` for four samples in one sweep."""
    w = coef[c]
    a = b = e = f = x0.dtype.type(0)
    for d in range(x0.shape[0]):
        u = w[d]
        a += u * x0[d]
        b += u * x1[d]
        e += u * x2[d]
        f += u * x3[d]
    out[0, c] += a
    out[1, c] += b
    out[2, c] += e
    out[3, c] += f


@jit(JIT_OPTIONS)
def _scores4(coef, x0, x1, x2, x3, out):
    """``out[k] += coef @ x_k`` for four samples: five classes per sweep, then one."""
    n_classes = coef.shape[0]
    c = 0
    while c + _CLASS_BLOCK <= n_classes:
        _dot5x4(coef, c, x0, x1, x2, x3, out)
        c += _CLASS_BLOCK
    while c < n_classes:
        _dot1x4(coef, c, x0, x1, x2, x3, out)
        c += 1


@jit(JIT_OPTIONS)
def _prefetch_block(X, r0, r1, r2, r3, line, count):
    """Prefetch lines ``line:line + count`` of the rows ``X[r0..r3]``; the next line."""
    step = 64 // X.itemsize
    end = min(line + count, (X.shape[1] + step - 1) // step)
    for row in (r0, r1, r2, r3):
        for j in range(line, end):
            _prefetch(X, row, j * step)
    return max(line, end)


@jit(JIT_OPTIONS)
def _fold5x4(o0, o1, o2, o3, o4, dscores, c, x0, x1, x2, x3, lo, hi):
    """``o_j[lo:hi] += dscores[:, c + j] @ x[:, lo:hi]`` (``j`` = 0..4, x = x0..x3).  Unsigned
    indices, not slices: a slice's reference count is an atomic the threads share
    (about 90 ns a segment); unsigned, the loop vectorizes (no negative-index check)."""
    a0, a1, a2, a3 = dscores[0, c], dscores[1, c], dscores[2, c], dscores[3, c]
    b0, b1, b2, b3 = dscores[0, c + 1], dscores[1, c + 1], dscores[2, c + 1], dscores[3, c + 1]
    e0, e1, e2, e3 = dscores[0, c + 2], dscores[1, c + 2], dscores[2, c + 2], dscores[3, c + 2]
    f0, f1, f2, f3 = dscores[0, c + 3], dscores[1, c + 3], dscores[2, c + 3], dscores[3, c + 3]
    g0, g1, g2, g3 = dscores[0, c + 4], dscores[1, c + 4], dscores[2, c + 4], dscores[3, c + 4]
    for d in range(np.uint64(lo), np.uint64(hi)):
        v0 = x0[d]
        v1 = x1[d]
        v2 = x2[d]
        v3 = x3[d]
        o0[d] += a0 * v0 + a1 * v1 + a2 * v2 + a3 * v3
        o1[d] += b0 * v0 + b1 * v1 + b2 * v2 + b3 * v3
        o2[d] += e0 * v0 + e1 * v1 + e2 * v2 + e3 * v3
        o3[d] += f0 * v0 + f1 * v1 + f2 * v2 + f3 * v3
        o4[d] += g0 * v0 + g1 * v1 + g2 * v2 + g3 * v3


@jit(JIT_OPTIONS)
def _axpy1x4(grad, c, dscores, x0, x1, x2, x3):
    """``grad[c] += dscores[:, c] @ x`` in one sweep."""
    out = grad[c]
    a, b, e, f = dscores[0, c], dscores[1, c], dscores[2, c], dscores[3, c]
    for d in range(out.shape[0]):
        out[d] += a * x0[d] + b * x1[d] + e * x2[d] + f * x3[d]


@jit(JIT_OPTIONS)
def _gradient4(grad, dscores, x0, x1, x2, x3, X, r0, r1, r2, r3, prefetch):
    """``grad += dscores.T @ x`` for four samples: five rows per sweep, then one; with
    ``prefetch``, the next block's rows ``X[r0..r3]`` are prefetched a few lines after
    each ``_SEGMENT`` features of the five-row sweeps (the rest at the end)."""
    n_classes, n_features = grad.shape
    step = 64 // X.itemsize
    n_lines = (X.shape[1] + step - 1) // step if prefetch else 0  # per row
    segment = _SEGMENT if prefetch else max(1, n_features)
    n_points = (n_classes // _CLASS_BLOCK) * ((n_features + segment - 1) // segment)
    per_segment = (n_lines + n_points - 1) // max(1, n_points)
    line = 0
    c = 0
    while c + _CLASS_BLOCK <= n_classes:
        o0, o1, o2, o3, o4 = grad[c], grad[c + 1], grad[c + 2], grad[c + 3], grad[c + 4]
        for lo in range(0, n_features, segment):
            _fold5x4(o0, o1, o2, o3, o4, dscores, c, x0, x1, x2, x3, lo,
                     min(n_features, lo + segment))
            line = _prefetch_block(X, r0, r1, r2, r3, line, per_segment)
        c += _CLASS_BLOCK
    while c < n_classes:
        _axpy1x4(grad, c, dscores, x0, x1, x2, x3)
        c += 1
    _prefetch_block(X, r0, r1, r2, r3, line, n_lines)


@jit(JIT_OPTIONS)
def _axpy(out, a, x):
    """``out += a * x``."""
    for d in range(out.shape[0]):
        out[d] += a * x[d]


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
                    weights):
    """Loss sum and gradient of the mean batch loss over ``rows[lo:hi]``.

    ``grad``/``grad_intercept`` are overwritten with this chunk's share of the
    gradient of the batch mean (each sample weighs ``1 / n_batch``, or
    ``weights[row] / n_batch`` where ``n_batch`` is then the batch's weight sum).
    Returns the chunk's summed (weighted) loss in float64.  ``weights=None`` compiles
    a specialization of its own, with the weighted lines pruned.
    """
    n_classes = coef.shape[0]
    grad[:, :] = 0
    # Scratch written on every sample is allocated here, by the thread that uses it:
    # slices of one shared array would sit in the same cache lines across threads
    # (false sharing) and cost more than the arithmetic.
    dscores = np.empty((_BLOCK, n_classes), dtype=coef.dtype)
    shifted = np.empty(_BLOCK * n_classes, dtype=coef.dtype)  # flat, so exp runs in one loop
    pow2_bits = np.empty(_BLOCK * n_classes, dtype=np.int32)
    shifted_label = np.empty(_BLOCK, dtype=np.float64)
    grad_b = np.zeros(n_classes, dtype=coef.dtype)
    inv_n = 1.0 / n_batch
    loss = 0.0
    i = lo
    # Prefetching runs on into the next part, which this thread usually takes next;
    # rows over 8 KiB (``spread``): see the module's docstring.
    n_rows = rows.shape[0]
    ahead = min(_PREFETCH_MAX_ROWS, _PREFETCH_BYTES // (X.shape[1] * X.itemsize))
    spread = ahead < _BLOCK
    if spread:
        ahead = _BLOCK
    _prefetch_rows(X, rows, lo, min(n_rows, lo + ahead))
    while i < hi:
        block = min(_BLOCK, hi - i)
        if not spread:
            _prefetch_rows(X, rows, min(n_rows, i + ahead), min(n_rows, i + block + ahead))
        # A short last block repeats its last row; the copies' scores are ignored and
        # their gradient weights are zero, so every block runs the same kernels.
        x0 = X[rows[i]]
        x1 = X[rows[i + min(1, block - 1)]]
        x2 = X[rows[i + min(2, block - 1)]]
        x3 = X[rows[i + min(3, block - 1)]]
        for k in range(_BLOCK):
            for c in range(n_classes):
                dscores[k, c] = intercept[c]
        _scores4(coef, x0, x1, x2, x3, dscores)
        for k in range(block):
            s = dscores[k]
            smax = s[0]
            for c in range(1, n_classes):
                smax = max(smax, s[c])
            for c in range(n_classes):
                shifted[k * n_classes + c] = s[c] - smax
            shifted_label[k] = shifted[k * n_classes + y[rows[i + k]]]
        _exp_nonpositive(shifted, block * n_classes, pow2_bits)
        for k in range(block):
            e = shifted[k * n_classes:(k + 1) * n_classes]
            total = 0.0
            for c in range(n_classes):
                total += e[c]
            # log-sum-exp form: finite even when the true class's probability underflows
            if weights is None:
                loss += np.log(total) - shifted_label[k]
                share = inv_n
            else:
                weight = np.float64(weights[rows[i + k]])
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
            s[y[rows[i + k]]] -= share
            for c in range(n_classes):
                grad_b[c] += s[c]
        for k in range(block, _BLOCK):
            for c in range(n_classes):
                dscores[k, c] = 0.0
        nxt = i + block
        _gradient4(grad, dscores, x0, x1, x2, x3, X, rows[min(n_rows - 1, nxt)],
                   rows[min(n_rows - 1, nxt + 1)], rows[min(n_rows - 1, nxt + 2)],
                   rows[min(n_rows - 1, nxt + 3)], spread and nxt < n_rows)
        i += block
    grad_intercept[:] = grad_b
    return loss


@jit(PARALLEL_JIT_OPTIONS)
def _batch_loss_grad(X, y, rows, coef, intercept, grad_parts, grad_intercept_parts, loss_parts,
                     parallel, weights, n_batch):
    """Split the batch into ``_PART``-sample parts; fill one buffer slice per part.

    The parts depend on the batch size only, so the per-part sums and their serial
    sums in :func:`_step_weights` are the same whichever thread computes a part and however
    many there are.  With ``parallel`` False the parts run on the calling thread:
    waking the pool would cost more than it saves on small batches.  Returns the
    number of parts.  ``n_batch`` is :func:`_batch_weight`'s divisor.
    """
    n = rows.shape[0]
    n_parts = max(1, (n + _PART - 1) // _PART)
    if not parallel or n_parts == 1:
        for t in range(n_parts):
            lo = t * _PART
            loss_parts[t] = _rows_loss_grad(X, y, rows, lo, min(n, lo + _PART), coef, intercept,
                                            grad_parts[t], grad_intercept_parts[t], n_batch,
                                            weights)
        return n_parts
    for t in numba.prange(n_parts):
        lo = t * _PART
        loss_parts[t] = _rows_loss_grad(X, y, rows, lo, min(n, lo + _PART), coef, intercept,
                                        grad_parts[t], grad_intercept_parts[t], n_batch,
                                        weights)
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
def _update_row(w, velocity, g, lr, l1, l2, l1_proximal, momentum):
    """One SGD (+momentum) step on a weight row, then the L1 proximal step if asked."""
    threshold = lr * l1
    for d in range(w.shape[0]):
        step = g[d] + l2 * w[d]
        if l1 != 0.0 and not l1_proximal:
            step += l1 * np.sign(w[d])
        if momentum != 0.0:
            velocity[d] = momentum * velocity[d] - lr * step
            wd = w[d] + velocity[d]
        else:
            wd = w[d] - lr * step
        if l1 != 0.0 and l1_proximal:
            wd = np.sign(wd) * max(abs(wd) - threshold, 0.0)
        w[d] = wd


@jit(JIT_OPTIONS)
def _step_slice(coef, velocity_coef, grad_parts, n_parts, s, size, lr, l1, l2, l1_proximal,
                momentum, has_penalty, norm_parts):
    """Update the columns of slice ``s`` (``size`` wide), one pass per weight row while
    it is in L1: sum the parts' gradients into part 0, step, and put the new rows'
    ``sum |w|, sum w**2`` (the next step's penalty) in ``norm_parts[s]``."""
    lo = min(coef.shape[1], s * size)
    hi = min(coef.shape[1], lo + size)
    norm_parts[s, :] = 0.0
    for c in range(coef.shape[0]):
        g = grad_parts[0, c, lo:hi]
        for part in range(1, n_parts):
            _axpy(g, 1.0, grad_parts[part, c, lo:hi])
        _update_row(coef[c, lo:hi], velocity_coef[c, lo:hi], g, lr, l1, l2, l1_proximal,
                    momentum)
        if has_penalty:
            a, q = _row_norms(coef[c, lo:hi])
            norm_parts[s, 0] += a
            norm_parts[s, 1] += q


@jit(PARALLEL_JIT_OPTIONS)
def _step_weights(coef, velocity_coef, grad_parts, n_parts, lr, l1, l2, l1_proximal, momentum,
                  has_penalty, norm_parts, parallel):
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
                        l1_proximal, momentum, has_penalty, norm_parts)
    else:
        for s in range(n_slices):
            _step_slice(coef, velocity_coef, grad_parts, n_parts, s, size, lr, l1, l2,
                        l1_proximal, momentum, has_penalty, norm_parts)
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
    has_penalty = l1 != 0.0 or l2 != 0.0
    penalty = _penalty(coef, l1, l2) if has_penalty else 0.0
    n_slices = _STEP_SLICES if coef.size >= _PARALLEL_STEP_MIN else 1  # whole rows: small
    norm_parts = np.empty((_STEP_SLICES, 2), dtype=np.float64)
    for t in range(n_batches):
        rows = batch_indices[batch_starts[t]:batch_starts[t + 1]]
        n_batch = _batch_weight(rows, weights)
        n_parts = _batch_loss_grad(X, y, rows, coef, intercept, grad_parts,
                                   grad_intercept_parts, loss_parts, parallel, weights, n_batch)
        loss = _sum_small_parts(grad_intercept_parts, loss_parts, n_parts) / n_batch + penalty
        losses[t] = loss
        if not _is_finite(loss):
            return t
        penalty = _step_weights(coef, velocity_coef, grad_parts, n_parts, learning_rates[t], l1,
                                l2, l1_proximal, momentum, has_penalty, norm_parts[:n_slices],
                                parallel and n_slices > 1)
        # the bias is not penalized
        _update_row(intercept, velocity_intercept, grad_intercept_parts[0], learning_rates[t],
                    0.0, 0.0, l1_proximal, momentum)
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
                     parallel, weights, n_batch)
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
