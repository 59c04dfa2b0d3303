"""Fused Numba kernels for minibatch softmax SGD.

The weights are kept as ``coef`` of shape (n_classes, n_features) (scikit-learn's
``coef_`` layout), so every inner loop runs along the contiguous feature axis and
vectorizes.  A minibatch is never copied: rows are read in place through the batch's
index array.  The batch is split into one contiguous chunk per thread; each thread
accumulates into its own slice of a ``(n_threads, ...)`` buffer and the slices are summed
serially in a fixed order (as STUMPY's ``_stump``), so results are the same run to run.

Register blocking is what makes the hand-written products competitive with BLAS on
these skinny shapes: the forward pass scores four classes per sweep over a row (one
load of ``x[d]`` feeds four multiply-adds), the backward pass folds four samples into
each gradient row per sweep (one read-modify-write of ``grad[c, d]`` per four
multiply-adds).
"""
import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

from .._config import JIT_OPTIONS, PARALLEL_JIT_OPTIONS

_BLOCK = 4  # classes per forward sweep and samples per backward sweep
PARALLEL_MIN_WORK = 2_000_000  # multiply-adds per update below which one thread does it
_TINY = 1e-30  # probabilities below this count as 0 (far above float32's subnormal range)


@intrinsic
def _prefetch(typingctx, array, row, col):
    """Hint the CPU to start loading ``array[row, col]``'s cache line (``llvm.prefetch``)."""
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
        # read access, keep in all cache levels, data cache
        builder.call(function, [builder.bitcast(pointer, byte_pointer), i32(0), i32(3), i32(1)])
        return context.get_dummy_value()

    return sig, codegen


@numba.njit(**JIT_OPTIONS)
def _prefetch_rows(X, rows, lo, hi):
    """Start loading the rows ``X[rows[lo:hi]]`` while the current ones are computed."""
    step = 64 // X.itemsize
    for i in range(lo, hi):
        row = rows[i]
        for d in range(0, X.shape[1], step):
            _prefetch(X, row, d)


@numba.njit(**JIT_OPTIONS)
def _dot(w, x):
    acc = x.dtype.type(0)
    for d in range(x.shape[0]):
        acc += w[d] * x[d]
    return acc


@numba.njit(**JIT_OPTIONS)
def _dot4(coef, c, x, out):
    """``out[c:c+4] += coef[c:c+4] @ x`` in one sweep over ``x``."""
    w0 = coef[c]
    w1 = coef[c + 1]
    w2 = coef[c + 2]
    w3 = coef[c + 3]
    a0 = a1 = a2 = a3 = x.dtype.type(0)
    for d in range(x.shape[0]):
        xd = x[d]
        a0 += w0[d] * xd
        a1 += w1[d] * xd
        a2 += w2[d] * xd
        a3 += w3[d] * xd
    out[c] += a0
    out[c + 1] += a1
    out[c + 2] += a2
    out[c + 3] += a3


@numba.njit(**JIT_OPTIONS)
def _dot2(coef, c, x, out):
    """``out[c:c+2] += coef[c:c+2] @ x`` in one sweep over ``x``."""
    w0 = coef[c]
    w1 = coef[c + 1]
    a0 = a1 = x.dtype.type(0)
    for d in range(x.shape[0]):
        xd = x[d]
        a0 += w0[d] * xd
        a1 += w1[d] * xd
    out[c] += a0
    out[c + 1] += a1


@numba.njit(**JIT_OPTIONS)
def _scores(coef, x, s):
    """``s += coef @ x``: four classes per sweep over ``x``, then two, then one."""
    n_classes = coef.shape[0]
    c = 0
    while c + _BLOCK <= n_classes:
        _dot4(coef, c, x, s)
        c += _BLOCK
    if c + 2 <= n_classes:
        _dot2(coef, c, x, s)
        c += 2
    if c < n_classes:
        s[c] += _dot(coef[c], x)


@numba.njit(**JIT_OPTIONS)
def _dot4x2(coef, c, x, z, out_x, out_z):
    """Four classes for two samples in one sweep: each weight load feeds two rows."""
    w0 = coef[c]
    w1 = coef[c + 1]
    w2 = coef[c + 2]
    w3 = coef[c + 3]
    a0 = a1 = a2 = a3 = b0 = b1 = b2 = b3 = x.dtype.type(0)
    for d in range(x.shape[0]):
        xd = x[d]
        zd = z[d]
        a0 += w0[d] * xd
        a1 += w1[d] * xd
        a2 += w2[d] * xd
        a3 += w3[d] * xd
        b0 += w0[d] * zd
        b1 += w1[d] * zd
        b2 += w2[d] * zd
        b3 += w3[d] * zd
    out_x[c] += a0
    out_x[c + 1] += a1
    out_x[c + 2] += a2
    out_x[c + 3] += a3
    out_z[c] += b0
    out_z[c + 1] += b1
    out_z[c + 2] += b2
    out_z[c + 3] += b3


@numba.njit(**JIT_OPTIONS)
def _dot2x2(coef, c, x, z, out_x, out_z):
    """Two classes for two samples in one sweep."""
    w0 = coef[c]
    w1 = coef[c + 1]
    a0 = a1 = b0 = b1 = x.dtype.type(0)
    for d in range(x.shape[0]):
        xd = x[d]
        zd = z[d]
        a0 += w0[d] * xd
        a1 += w1[d] * xd
        b0 += w0[d] * zd
        b1 += w1[d] * zd
    out_x[c] += a0
    out_x[c + 1] += a1
    out_z[c] += b0
    out_z[c + 1] += b1


@numba.njit(**JIT_OPTIONS)
def _scores2(coef, x, z, s_x, s_z):
    """``s_x += coef @ x`` and ``s_z += coef @ z`` together: four classes per sweep,
    then two, then one."""
    n_classes = coef.shape[0]
    c = 0
    while c + _BLOCK <= n_classes:
        _dot4x2(coef, c, x, z, s_x, s_z)
        c += _BLOCK
    if c + 2 <= n_classes:
        _dot2x2(coef, c, x, z, s_x, s_z)
        c += 2
    if c < n_classes:
        s_x[c] += _dot(coef[c], x)
        s_z[c] += _dot(coef[c], z)


@numba.njit(**JIT_OPTIONS)
def _axpy4x2(out_a, out_b, g0, g1, g2, g3, h0, h1, h2, h3, x0, x1, x2, x3):
    """Two gradient rows from four samples in one sweep: each row load feeds both."""
    for d in range(out_a.shape[0]):
        v0 = x0[d]
        v1 = x1[d]
        v2 = x2[d]
        v3 = x3[d]
        out_a[d] += g0 * v0 + g1 * v1 + g2 * v2 + g3 * v3
        out_b[d] += h0 * v0 + h1 * v1 + h2 * v2 + h3 * v3


@numba.njit(**JIT_OPTIONS)
def _axpy(out, a, x):
    """``out += a * x``."""
    for d in range(out.shape[0]):
        out[d] += a * x[d]


@numba.njit(**JIT_OPTIONS)
def _axpy4(out, g0, g1, g2, g3, x0, x1, x2, x3):
    """``out += g0 x0 + g1 x1 + g2 x2 + g3 x3`` in one sweep."""
    for d in range(out.shape[0]):
        out[d] += g0 * x0[d] + g1 * x1[d] + g2 * x2[d] + g3 * x3[d]


@numba.njit(**JIT_OPTIONS)
def _rows_loss_grad(X, y, rows, lo, hi, coef, intercept, grad, grad_intercept, n_batch):
    """Loss sum and gradient of the mean batch loss over ``rows[lo:hi]``.

    ``grad``/``grad_intercept`` are overwritten with this chunk's share of the
    gradient of the batch mean (each sample weighs ``1 / n_batch``).  Returns the
    chunk's summed loss in float64.
    """
    n_classes = coef.shape[0]
    grad[:, :] = 0
    # Scratch written on every sample is allocated here, by the thread that uses it:
    # slices of one shared array would sit in the same cache lines across threads
    # (false sharing) and cost more than the arithmetic.
    dscores = np.empty((_BLOCK, n_classes), dtype=coef.dtype)
    grad_b = np.zeros(n_classes, dtype=coef.dtype)
    inv_n = 1.0 / n_batch
    loss = 0.0
    i = lo
    _prefetch_rows(X, rows, lo, min(hi, lo + _BLOCK))
    while i < hi:
        block = min(_BLOCK, hi - i)
        _prefetch_rows(X, rows, i + block, min(hi, i + block + _BLOCK))
        for k in range(block):
            for c in range(n_classes):
                dscores[k, c] = intercept[c]
        k = 0
        while k + 2 <= block:
            _scores2(coef, X[rows[i + k]], X[rows[i + k + 1]], dscores[k], dscores[k + 1])
            k += 2
        if k < block:
            _scores(coef, X[rows[i + k]], dscores[k])
        for k in range(block):
            row = rows[i + k]
            s = dscores[k]
            smax = s[0]
            for c in range(1, n_classes):
                smax = max(smax, s[c])
            label = y[row]
            shifted_label = np.float64(s[label] - smax)
            total = 0.0
            for c in range(n_classes):
                e = np.exp(s[c] - smax)  # in the input's precision: expf for float32
                s[c] = e
                total += e
            # log-sum-exp form: finite even when the true class's probability underflows
            loss += np.log(total) - shifted_label
            scale = inv_n / total
            for c in range(n_classes):
                p = s[c] * scale
                # Flush negligible probabilities to zero: stored as float32 they would be
                # subnormal, and subnormal operands slow the gradient's multiply-adds by
                # orders of magnitude once training makes the scores confident.
                s[c] = p if p > _TINY else 0.0
            s[label] -= inv_n
            for c in range(n_classes):
                grad_b[c] += s[c]
        if block == _BLOCK:
            x0 = X[rows[i]]
            x1 = X[rows[i + 1]]
            x2 = X[rows[i + 2]]
            x3 = X[rows[i + 3]]
            c = 0
            while c + 2 <= n_classes:
                _axpy4x2(grad[c], grad[c + 1], dscores[0, c], dscores[1, c], dscores[2, c],
                         dscores[3, c], dscores[0, c + 1], dscores[1, c + 1], dscores[2, c + 1],
                         dscores[3, c + 1], x0, x1, x2, x3)
                c += 2
            if c < n_classes:
                _axpy4(grad[c], dscores[0, c], dscores[1, c], dscores[2, c], dscores[3, c],
                       x0, x1, x2, x3)
        else:
            for k in range(block):
                xk = X[rows[i + k]]
                for c in range(n_classes):
                    _axpy(grad[c], dscores[k, c], xk)
        i += block
    grad_intercept[:] = grad_b
    return loss


@numba.njit(**PARALLEL_JIT_OPTIONS)
def _batch_loss_grad(X, y, rows, coef, intercept, grad_parts, grad_intercept_parts, loss_parts):
    """Split the batch into one chunk per buffer slice; fill each slice in parallel."""
    n = rows.shape[0]
    n_parts = grad_parts.shape[0]
    chunk = (n + n_parts - 1) // n_parts
    for t in numba.prange(n_parts):
        lo = min(n, t * chunk)
        hi = min(n, lo + chunk)
        loss_parts[t] = _rows_loss_grad(X, y, rows, lo, hi, coef, intercept, grad_parts[t],
                                        grad_intercept_parts[t], n)


@numba.njit(**JIT_OPTIONS)
def _sum_parts(grad_parts, grad_intercept_parts, loss_parts):
    """Sum the per-thread slices into slice 0, serially in a fixed order."""
    for t in range(1, grad_parts.shape[0]):
        for c in range(grad_parts.shape[1]):
            _axpy(grad_parts[0, c], 1.0, grad_parts[t, c])
        grad_intercept_parts[0] += grad_intercept_parts[t]
    total = 0.0
    for t in range(loss_parts.shape[0]):
        total += loss_parts[t]
    return total


@numba.njit(**JIT_OPTIONS)
def _penalty(coef, l1, l2):
    abs_sum = 0.0
    sq_sum = 0.0
    for c in range(coef.shape[0]):
        row = coef[c]
        for d in range(row.shape[0]):
            w = np.float64(row[d])
            abs_sum += abs(w)
            sq_sum += w * w
    return l1 * abs_sum + 0.5 * l2 * sq_sum


@numba.njit(**JIT_OPTIONS)
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


def make_workspace(n_classes, n_features, dtype, batch_size=None):
    """Per-thread buffers for the kernels (allocated once per fit, not per step).

    A minibatch smaller than ``PARALLEL_MIN_WORK`` multiply-adds gets a single part and
    runs serially: waking and joining threads for every update would cost more than it
    saves, and on a busy machine one descheduled thread stalls every step.
    """
    n_parts = numba.get_num_threads()
    if batch_size is not None and 2 * batch_size * n_features * n_classes < PARALLEL_MIN_WORK:
        n_parts = 1
    return (
        np.zeros((n_parts, n_classes, n_features), dtype=dtype),
        np.zeros((n_parts, n_classes), dtype=dtype),
        np.zeros(n_parts, dtype=np.float64),
    )


@numba.njit(**JIT_OPTIONS)
def sgd(X, y, coef, intercept, velocity_coef, velocity_intercept, batch_indices, batch_starts,
        learning_rates, l1, l2, l1_proximal, momentum, grad_parts, grad_intercept_parts,
        loss_parts, losses):
    """Minibatch SGD, in place; same semantics as ``_numpy.sgd``.

    Writes the minibatch loss (data + penalty, before the update) of each step to
    ``losses`` and returns the number of steps taken: fewer than planned when a loss
    is not finite (that step's loss is written, its update is not made).
    """
    n_batches = batch_starts.shape[0] - 1
    has_penalty = l1 != 0.0 or l2 != 0.0
    for t in range(n_batches):
        rows = batch_indices[batch_starts[t]:batch_starts[t + 1]]
        if grad_parts.shape[0] == 1:
            loss_parts[0] = _rows_loss_grad(X, y, rows, 0, rows.shape[0], coef, intercept,
                                            grad_parts[0], grad_intercept_parts[0], rows.shape[0])
        else:
            _batch_loss_grad(X, y, rows, coef, intercept, grad_parts, grad_intercept_parts,
                             loss_parts)
        loss = _sum_parts(grad_parts, grad_intercept_parts, loss_parts) / rows.shape[0]
        if has_penalty:
            loss += _penalty(coef, l1, l2)
        losses[t] = loss
        if not np.isfinite(loss):
            return t
        lr = learning_rates[t]
        for c in range(coef.shape[0]):
            _update_row(coef[c], velocity_coef[c], grad_parts[0, c], lr, l1, l2, l1_proximal,
                        momentum)
        for c in range(intercept.shape[0]):
            g = grad_intercept_parts[0, c]
            if momentum != 0.0:
                velocity_intercept[c] = momentum * velocity_intercept[c] - lr * g
                intercept[c] += velocity_intercept[c]
            else:
                intercept[c] -= lr * g
    return n_batches


def loss_and_gradient(coef, intercept, X, y, l1, l2):
    """Mean loss + penalty and its gradient for one batch (all rows), via the fused kernel.

    Returns ``loss, grad_coef (n_classes, n_features), grad_intercept``; the L1 part
    contributes ``l1 * sign(coef)``.
    """
    grad_parts, grad_intercept_parts, loss_parts = make_workspace(
        coef.shape[0], coef.shape[1], X.dtype
    )
    rows = np.arange(X.shape[0], dtype=np.int64)
    _batch_loss_grad(X, y, rows, coef, intercept, grad_parts, grad_intercept_parts, loss_parts)
    loss = _sum_parts(grad_parts, grad_intercept_parts, loss_parts) / X.shape[0]
    grad = grad_parts[0]
    if l1 or l2:
        loss += _penalty(coef, l1, l2)
        grad = grad + l2 * coef + l1 * np.sign(coef)
    return float(loss), grad, grad_intercept_parts[0].copy()
