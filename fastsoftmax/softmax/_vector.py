"""The inner loops of the training kernel, written as LLVM IR with explicit vectors,
and the same loops in plain Numba, used where the IR cannot be built.

Each loop sweeps one tile of columns ``lo:hi`` (a whole number of cache lines) for a
block of four samples and five (or one) classes, two 32-byte vectors per step: one
cache line of each row.  Written out here rather than left to Numba's loop vectorizer,
the loop has no runtime alias checks before it (the vectorizer cannot prove that the
gradient rows do not overlap the sample rows, and checks every pair on each call), no
scalar remainder, and one software prefetch per step: one cache line of a row that a
later block reads, so that the next rows stream in from memory at the pace of the
arithmetic instead of in bursts that stall it.

- :func:`tile_scores5` / :func:`tile_scores1`: ``acc[k + m, c + j, :] +=`` the lane sums
  of ``coef[c + j, lo:hi] * X[r_m, lo:hi]``.  The partial sums stay in vector lanes
  across tiles (``acc``), so a tile costs no horizontal sums; the caller adds the lanes
  once per row.
- :func:`tile_fold5` / :func:`tile_fold1`: ``grad[c + j, lo:hi] += sum_m
  ds[k + m, c + j] * X[r_m, lo:hi]``, four fused multiply-adds per gradient vector.
- :func:`prefetch`: one cache line into L2, from Numba code.

Each name is an ``@overload`` that compiles in the LLVM IR version (``ir_tile_scores5``,
..., ``ir_prefetch``), or, where :func:`ir_loops_problem` finds that this Numba does not
build it as expected, the plain Numba version (``plain_tile_scores5``, ...; the plain
prefetch does nothing): the same sums, to float rounding (below).  The choice is
made when a kernel that calls them compiles; a kernel loaded from the cache runs no
check.

NumPy references: ``_numpy`` (the whole loss and gradient) and the tests, which
compare each loop with ``X @ coef.T`` and ``ds.T @ X``.  These are compiled into the
kernels of :mod:`._kernels`, whose cache entries are stamped with this file too
(``_jit.compiled_from``).
"""
import functools

import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic, overload

from fastsoftmax._shared.config import NUMBA_FALLBACK, OVERLOAD_JIT_OPTIONS
from fastsoftmax._shared.jit import fallback_notice, jit, signature_problem

try:  # a private module: a later Numba may move it (then: the plain loops)
    from numba.core import cgutils
    from numba.core.base import BaseContext
except ImportError:
    cgutils = BaseContext = None

VECTOR_BYTES = 32  # one AVX register: 8 float32 or 4 float64 lanes; two make a cache line


def ir_internals_problem():
    """What differs in this Numba and llvmlite from what the IR loops call, in a few
    words; None when every function has the expected name and positional parameters."""
    if cgutils is None:
        return "numba.core.cgutils or numba.core.base cannot be imported"
    checks = [
        (cgutils, "get_item_pointer", ("context", "builder", "aryty", "ary", "inds")),
        (cgutils, "get_or_insert_function", ("module", "fnty", "name")),
        (BaseContext, "make_array", ("self", "typ")),
        (BaseContext, "get_value_type", ("self", "ty")),
        (BaseContext, "get_abi_sizeof", ("self", "ty")),
        (BaseContext, "get_dummy_value", ("self",)),
        (ir.IRBuilder, "load", ("self", "ptr")),
        (ir.IRBuilder, "store", ("self", "value", "ptr")),
        (ir.IRBuilder, "gep", ("self", "ptr", "indices")),
        (ir.IRBuilder, "bitcast", ("self", "value", "typ")),
        (ir.IRBuilder, "insert_element", ("self", "vector", "value", "idx")),
        (ir.IRBuilder, "shuffle_vector", ("self", "vector1", "vector2", "mask")),
        (ir.IRBuilder, "call", ("self", "fn", "args")),
        (ir.IRBuilder, "phi", ("self", "typ")),
    ]
    for owner, name, parameters in checks:
        problem = signature_problem(owner, name, parameters)
        if problem:
            return problem
    for name in ("IntType", "VectorType", "FunctionType", "VoidType", "Constant", "Undefined"):
        if not hasattr(ir, name):
            return f"llvmlite.ir has no {name}"
    return None


def _i32(value):
    return ir.IntType(32)(value)


def _check_arrays(*arrays):
    """Whether the arrays are C-contiguous and of one float dtype (the loops' contract)."""
    dtype = arrays[0].dtype
    return all(isinstance(a, types.Array) and a.layout == "C" and a.dtype == dtype
               for a in arrays) and dtype in (types.float32, types.float64)


def _pointer(context, builder, array_type, array, indices):
    view = context.make_array(array_type)(context, builder, array)
    return cgutils.get_item_pointer(context, builder, array_type, view, indices)


def _load(builder, pointer, offset, vector, align):
    address = builder.bitcast(builder.gep(pointer, [offset]), vector.as_pointer())
    return builder.load(address, align=align)


def _store(builder, value, pointer, offset, vector, align):
    address = builder.bitcast(builder.gep(pointer, [offset]), vector.as_pointer())
    builder.store(value, address, align=align)


def _splat(builder, scalar, vector):
    undefined = ir.Constant(vector, ir.Undefined)
    first = builder.insert_element(undefined, scalar, _i32(0))
    zeros = ir.Constant(ir.VectorType(ir.IntType(32), vector.count), [0] * vector.count)
    return builder.shuffle_vector(first, undefined, zeros)


def _fma(builder, a, b, c):
    """``a * b + c`` lane by lane, fused where the CPU has FMA (``llvm.fmuladd``: a
    multiply and an add elsewhere, never a call per lane)."""
    suffix = "f32" if isinstance(a.type.element, ir.FloatType) else "f64"
    name = f"llvm.fmuladd.v{a.type.count}{suffix}"
    function = cgutils.get_or_insert_function(
        builder.module, ir.FunctionType(a.type, [a.type] * 3), name)
    return builder.call(function, [a, b, c])


def _prefetch_line(builder, pointer):
    byte_pointer = ir.IntType(8).as_pointer()
    function = cgutils.get_or_insert_function(
        builder.module, ir.FunctionType(ir.VoidType(), [byte_pointer] + [ir.IntType(32)] * 3),
        "llvm.prefetch.p0i8")
    # read access, locality 1 (prefetcht2: into L2, not L1), data cache
    builder.call(function, [builder.bitcast(pointer, byte_pointer), _i32(0), _i32(1), _i32(1)])


def _counted_loop(builder, intp, count, carried, body):
    """``for i in range(count): carried = body(i, carried)``; returns the final values."""
    before = builder.block
    loop = builder.append_basic_block("tile_loop")
    after = builder.append_basic_block("tile_done")
    builder.cbranch(builder.icmp_signed(">", count, intp(0)), loop, after)
    builder.position_at_end(loop)
    i = builder.phi(intp)
    i.add_incoming(intp(0), before)
    phis = []
    for value in carried:
        phi = builder.phi(value.type)
        phi.add_incoming(value, before)
        phis.append(phi)
    updated = body(i, phis)
    i_next = builder.add(i, intp(1))
    end = builder.block
    i.add_incoming(i_next, end)
    for phi, value in zip(phis, updated):
        phi.add_incoming(value, end)
    builder.cbranch(builder.icmp_signed("<", i_next, count), loop, after)
    builder.position_at_end(after)
    results = []
    for value, value_updated in zip(carried, updated):
        phi = builder.phi(value.type)
        phi.add_incoming(value, before)
        phi.add_incoming(value_updated, end)
        results.append(phi)
    return results


class _Tile:
    """What both loops set up: the vector type, the four sample rows and the prefetched
    row at column ``lo``, and the number of one-line steps."""

    def __init__(self, context, builder, X_type, X, rows, lo, hi, prefetch_row):
        self.intp = context.get_value_type(types.intp)
        element = context.get_value_type(X_type.dtype)
        self.itemsize = context.get_abi_sizeof(element)
        self.lanes = VECTOR_BYTES // self.itemsize
        self.vector = ir.VectorType(element, self.lanes)
        self.x = [_pointer(context, builder, X_type, X, [row, lo]) for row in rows]
        self.ahead = _pointer(context, builder, X_type, X, [prefetch_row, lo])
        self.count = builder.sdiv(builder.sub(hi, lo), self.intp(2 * self.lanes))

    def step(self, builder, i):
        """The offsets of the two vectors of step ``i``, after prefetching its line."""
        line = builder.mul(i, self.intp(2 * self.lanes))
        _prefetch_line(builder, builder.gep(self.ahead, [line]))
        return line, builder.add(line, self.intp(self.lanes))

    def load_x(self, builder, offset):
        return [_load(builder, p, offset, self.vector, self.itemsize) for p in self.x]


def _tile_scores(n_classes):
    @intrinsic
    def tile_scores(typingctx, coef, c, X, r0, r1, r2, r3, acc, k, lo, hi, prefetch_row):
        if not (_check_arrays(coef, X, acc) and coef.ndim == X.ndim == 2 and acc.ndim == 3):
            return None
        sig = types.void(coef, c, X, r0, r1, r2, r3, acc, k, lo, hi, prefetch_row)

        def codegen(context, builder, signature, args):
            coef_type, _, X_type, _, _, _, _, acc_type = signature.args[:8]
            coef, c, X, r0, r1, r2, r3, acc, k, lo, hi, prefetch_row = args
            tile = _Tile(context, builder, X_type, X, (r0, r1, r2, r3), lo, hi, prefetch_row)
            intp, vector, align = tile.intp, tile.vector, tile.itemsize
            w = [_pointer(context, builder, coef_type, coef, [builder.add(c, intp(j)), lo])
                 for j in range(n_classes)]
            sums = [_pointer(context, builder, acc_type, acc,
                             [builder.add(k, intp(m)), builder.add(c, intp(j)), intp(0)])
                    for j in range(n_classes) for m in range(4)]
            start = [_load(builder, p, intp(0), vector, align) for p in sums]

            def body(i, partial):
                partial = list(partial)
                for offset in tile.step(builder, i):
                    x = tile.load_x(builder, offset)
                    for j in range(n_classes):
                        weights = _load(builder, w[j], offset, vector, align)
                        for m in range(4):
                            partial[4 * j + m] = _fma(builder, weights, x[m], partial[4 * j + m])
                return partial

            final = _counted_loop(builder, intp, tile.count, start, body)
            for pointer, value in zip(sums, final):
                _store(builder, value, pointer, intp(0), vector, align)
            return context.get_dummy_value()

        return sig, codegen

    tile_scores.__doc__ = (
        f"``acc[k + m, c + j, :] +=`` lane sums of ``coef[c + j, lo:hi] * X[r_m, lo:hi]`` "
        f"(m = 0..3, j < {n_classes}); prefetches ``X[prefetch_row, lo:hi]``.")
    return tile_scores


def _tile_fold(n_classes):
    @intrinsic
    def tile_fold(typingctx, grad, c, ds, k, X, r0, r1, r2, r3, lo, hi, prefetch_row):
        if not (_check_arrays(grad, ds, X) and grad.ndim == ds.ndim == X.ndim == 2):
            return None
        sig = types.void(grad, c, ds, k, X, r0, r1, r2, r3, lo, hi, prefetch_row)

        def codegen(context, builder, signature, args):
            grad_type, _, ds_type, _, X_type = signature.args[:5]
            grad, c, ds, k, X, r0, r1, r2, r3, lo, hi, prefetch_row = args
            tile = _Tile(context, builder, X_type, X, (r0, r1, r2, r3), lo, hi, prefetch_row)
            intp, vector, align = tile.intp, tile.vector, tile.itemsize
            g = [_pointer(context, builder, grad_type, grad, [builder.add(c, intp(j)), lo])
                 for j in range(n_classes)]
            factors = [[_splat(builder, builder.load(_pointer(
                context, builder, ds_type, ds, [builder.add(k, intp(m)), builder.add(c, intp(j))])),
                vector) for m in range(4)] for j in range(n_classes)]

            def body(i, _):
                for offset in tile.step(builder, i):
                    x = tile.load_x(builder, offset)
                    for j in range(n_classes):
                        total = _load(builder, g[j], offset, vector, align)
                        for m in range(4):
                            total = _fma(builder, factors[j][m], x[m], total)
                        _store(builder, total, g[j], offset, vector, align)
                return []

            _counted_loop(builder, intp, tile.count, [], body)
            return context.get_dummy_value()

        return sig, codegen

    tile_fold.__doc__ = (
        f"``grad[c + j, lo:hi] += sum_m ds[k + m, c + j] * X[r_m, lo:hi]`` (m = 0..3, "
        f"j < {n_classes}); prefetches ``X[prefetch_row, lo:hi]``.")
    return tile_fold


ir_tile_scores5 = _tile_scores(5)
ir_tile_scores1 = _tile_scores(1)
ir_tile_fold5 = _tile_fold(5)
ir_tile_fold1 = _tile_fold(1)


@intrinsic
def ir_prefetch(typingctx, array, row, col):
    """Hint the CPU to load ``array[row, col]``'s cache line into L2 (``llvm.prefetch``)."""
    sig = types.void(array, row, col)

    def codegen(context, builder, signature, args):
        _prefetch_line(builder, _pointer(context, builder, signature.args[0], args[0], args[1:]))
        return context.get_dummy_value()

    return sig, codegen


# The plain loops: what the IR loops compute, over the same whole steps of two vectors.
# The gradient's is the same arithmetic, element by element (with fast-math on, LLVM
# contracts each multiply-add into one fused instruction where the CPU has FMA, as
# ``llvm.fmuladd`` does in the IR loops).  The scores' adds a row's whole dot product to
# lane 0 of its sums, in LLVM's vectorized order, instead of one partial sum per lane:
# a sum of the same products, rounded differently.  Summed lane by lane, the partial
# sums stay in memory (LLVM cannot tell that they do not overlap the rows) and the loop
# does not vectorize; summed per row, it does.  Unsigned indices spare the
# negative-index checks that also keep a loop from vectorizing.


@jit(OVERLOAD_JIT_OPTIONS)
def _steps_end(X, lo, hi):
    """The end of the whole steps (two vectors each) of ``lo:hi``."""
    step = 2 * (VECTOR_BYTES // X.itemsize)
    return lo + max(hi - lo, 0) // step * step


@jit(OVERLOAD_JIT_OPTIONS)
def _plain_scores(n_classes, coef, c, X, r0, r1, r2, r3, acc, k, lo, hi):
    ulo = np.uint64(lo)
    end = np.uint64(_steps_end(X, lo, hi))
    k0, k1, k2, k3 = np.uint64(k), np.uint64(k + 1), np.uint64(k + 2), np.uint64(k + 3)
    q0, q1, q2, q3 = np.uint64(r0), np.uint64(r1), np.uint64(r2), np.uint64(r3)
    for j in range(np.uint64(n_classes)):
        cj = np.uint64(c) + j
        s0, s1, s2, s3 = acc[k0, cj, 0], acc[k1, cj, 0], acc[k2, cj, 0], acc[k3, cj, 0]
        for d in range(ulo, end):
            wd = coef[cj, d]
            s0 += wd * X[q0, d]
            s1 += wd * X[q1, d]
            s2 += wd * X[q2, d]
            s3 += wd * X[q3, d]
        acc[k0, cj, 0], acc[k1, cj, 0], acc[k2, cj, 0], acc[k3, cj, 0] = s0, s1, s2, s3


@jit(OVERLOAD_JIT_OPTIONS)
def _plain_fold(n_classes, grad, c, ds, k, X, r0, r1, r2, r3, lo, hi):
    end = _steps_end(X, lo, hi)
    x0, x1, x2, x3 = X[r0], X[r1], X[r2], X[r3]
    for j in range(n_classes):
        g = grad[c + j]
        f0, f1, f2, f3 = ds[k, c + j], ds[k + 1, c + j], ds[k + 2, c + j], ds[k + 3, c + j]
        for d in range(np.uint64(lo), np.uint64(end)):
            total = f0 * x0[d] + g[d]
            total = f1 * x1[d] + total
            total = f2 * x2[d] + total
            g[d] = f3 * x3[d] + total


@jit(OVERLOAD_JIT_OPTIONS)
def plain_tile_scores5(coef, c, X, r0, r1, r2, r3, acc, k, lo, hi, prefetch_row):
    """:func:`tile_scores5` in plain Numba (no prefetch)."""
    _plain_scores(5, coef, c, X, r0, r1, r2, r3, acc, k, lo, hi)


@jit(OVERLOAD_JIT_OPTIONS)
def plain_tile_scores1(coef, c, X, r0, r1, r2, r3, acc, k, lo, hi, prefetch_row):
    """:func:`tile_scores1` in plain Numba (no prefetch)."""
    _plain_scores(1, coef, c, X, r0, r1, r2, r3, acc, k, lo, hi)


@jit(OVERLOAD_JIT_OPTIONS)
def plain_tile_fold5(grad, c, ds, k, X, r0, r1, r2, r3, lo, hi, prefetch_row):
    """:func:`tile_fold5` in plain Numba (no prefetch)."""
    _plain_fold(5, grad, c, ds, k, X, r0, r1, r2, r3, lo, hi)


@jit(OVERLOAD_JIT_OPTIONS)
def plain_tile_fold1(grad, c, ds, k, X, r0, r1, r2, r3, lo, hi, prefetch_row):
    """:func:`tile_fold1` in plain Numba (no prefetch)."""
    _plain_fold(1, grad, c, ds, k, X, r0, r1, r2, r3, lo, hi)


@jit(OVERLOAD_JIT_OPTIONS)
def plain_prefetch(array, row, col):
    """:func:`prefetch` in plain Numba: nothing (a prefetch is only a hint)."""


def _probe_loops(coef, X, rows, acc, grad, ds):
    r0, r1, r2, r3, ahead = rows[0], rows[1], rows[2], rows[3], rows[4]
    hi = X.shape[1]
    ir_tile_scores5(coef, 0, X, r0, r1, r2, r3, acc, 0, 0, hi, ahead)
    ir_tile_scores1(coef, 5, X, r0, r1, r2, r3, acc, 0, 0, hi, ahead)
    ir_tile_fold5(grad, 0, ds, 0, X, r0, r1, r2, r3, 0, hi, ahead)
    ir_tile_fold1(grad, 5, ds, 0, X, r0, r1, r2, r3, 0, hi, ahead)
    ir_prefetch(X, ahead, 0)


def _probe_problem():
    """Why the IR loops do not compile, or give other sums than NumPy's, on small
    arrays of small integers (exact in float32); None when they agree exactly."""
    probe = jit(OVERLOAD_JIT_OPTIONS)(_probe_loops)
    rows = np.array([3, 0, 3, 1, 2])
    for dtype in (np.float32, np.float64):
        lanes = VECTOR_BYTES // np.dtype(dtype).itemsize
        width = 4 * lanes  # two steps
        X = (np.arange(4 * width) % 7 - 3).reshape(4, width).astype(dtype)
        coef = (np.arange(6 * width) % 5 - 2).reshape(6, width).astype(dtype)
        ds = (np.arange(24) % 3 - 1).reshape(4, 6).astype(dtype)
        acc = np.ones((4, 6, lanes), dtype)
        grad = np.ones((6, width), dtype)
        try:
            probe(coef, X, rows, acc, grad, ds)
        except Exception as error:  # whatever a changed Numba or llvmlite raises
            return f"the LLVM IR loops do not compile: {type(error).__name__}"
        scores = X[rows[:4]].astype(np.float64) @ coef.T.astype(np.float64)
        folded = 1.0 + ds.T.astype(np.float64) @ X[rows[:4]]
        if not (np.array_equal(acc.sum(axis=-1) - lanes, scores)
                and np.array_equal(grad, folded)):
            return "the LLVM IR loops compute other sums than NumPy"
    return None


@functools.cache
def ir_loops_problem():
    """Why the kernels compile in the plain loops instead of the IR ones; None when they
    compile in the IR ones.

    Checked once, when the first kernel that calls the loops compiles: the names and
    parameters of :func:`ir_internals_problem`, then the IR loops compiled and run
    once on small arrays.  Logs a one-line warning when they are not used.
    """
    if NUMBA_FALLBACK:
        return "FASTSOFTMAX_NUMBA_FALLBACK is set"  # said once by _jit already
    problem = ir_internals_problem() or _probe_problem()
    if problem:
        fallback_notice("the training kernel uses plain Numba loops instead of its LLVM IR "
                        "loops (slower; the same results to float rounding)", problem)
    return problem


def _chosen(ir_loop, plain_loop, doc):
    """A function that kernels call: ``ir_loop`` where :func:`ir_loops_problem` finds
    nothing, else ``plain_loop`` (the same arguments)."""

    def loop(*args):
        raise TypeError("call it from a Numba kernel")

    @overload(loop, jit_options=OVERLOAD_JIT_OPTIONS)
    def choose(*args):
        chosen = ir_loop if ir_loops_problem() is None else plain_loop

        def call(*args):
            chosen(*args)

        return call

    loop.__doc__ = doc
    return loop


tile_scores5 = _chosen(ir_tile_scores5, plain_tile_scores5, ir_tile_scores5.__doc__)
tile_scores1 = _chosen(ir_tile_scores1, plain_tile_scores1, ir_tile_scores1.__doc__)
tile_fold5 = _chosen(ir_tile_fold5, plain_tile_fold5, ir_tile_fold5.__doc__)
tile_fold1 = _chosen(ir_tile_fold1, plain_tile_fold1, ir_tile_fold1.__doc__)
prefetch = _chosen(ir_prefetch, plain_prefetch, ir_prefetch.__doc__)
