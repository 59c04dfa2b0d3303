"""Where Numba's internals are not what the fast paths expect (a later Numba renamed
one), the kernels fall back to Numba's standard cache and plain loops: the product
works, says so once, and computes the same numbers."""
import os
import subprocess
import sys
import textwrap

import numba
import numpy as np
import pytest

from fastsoftmax._shared import config as _config
from fastsoftmax._shared import jit as _jit
from fastsoftmax.softmax import _vector

_NUMBA = numba.__version__
_CACHE_NOTICE = "kernels are cached by Numba's standard cache"
_LOOPS_NOTICE = "the training kernel uses plain Numba loops instead of its LLVM IR loops"

# The loss and gradient (float32 and float64, weighted, elastic net: seven classes are a
# five-class sweep and two single ones, 70 features leave columns past the last cache
# line, 300 rows are three parts), SGD training (eleven classes, rows padded to cache
# lines) and the learned features (k-means and the encoder), saved to argv[1]; then
# whether the IR loops were used.
_COMPUTE = textwrap.dedent('''
    import sys

    import numpy as np

    from fastsoftmax.model.classifier import SoftmaxClassifier
    from fastsoftmax.features.learned import KMeansFeatures
    from fastsoftmax.softmax import _vector, loss_and_gradient

    rng = np.random.default_rng(0)
    out = {}
    for dtype in (np.float32, np.float64):
        X = rng.standard_normal((300, 70)).astype(dtype)
        y = rng.integers(0, 7, 300)
        W = (0.1 * rng.standard_normal((70, 7))).astype(dtype)
        b = (0.1 * rng.standard_normal(7)).astype(dtype)
        loss, dW, db = loss_and_gradient(W.T, b, X, y, "elasticnet", 0.01, backend="numba",
                                         sample_weight=rng.uniform(0.5, 2.0, 300))
        name = np.dtype(dtype).name
        out.update({f"loss_{name}": loss, f"dW_{name}": dW, f"db_{name}": db})
    X = rng.standard_normal((600, 130))
    y = rng.integers(0, 11, 600)
    clf = SoftmaxClassifier(epochs=3, batch_size=200, random_state=0).fit(X, y)
    out.update(coef=clf.coef_, intercept=clf.intercept_, loss_curve=clf.loss_curve_)
    images = rng.integers(0, 256, (40, 8, 8, 3), dtype=np.uint8)
    features = KMeansFeatures(patch_size=3, n_centroids=8, n_patches=1000, random_state=0)
    out["features"] = features.fit_transform(images)
    np.savez(sys.argv[1], **out)
    print("ir" if _vector.ir_loops_problem() is None else "plain")
''')


def _run(code, tmp_path, *args, cache=None, **env):
    """Run ``code`` in a fresh interpreter; its output.  ``FASTSOFTMAX_NUMBA_FALLBACK``
    is set here only; with it, or with ``cache`` (a folder name), Numba's cache goes to
    a folder of the test's own."""
    env = dict({k: v for k, v in os.environ.items() if k != "FASTSOFTMAX_NUMBA_FALLBACK"},
               **env)
    if cache or "FASTSOFTMAX_NUMBA_FALLBACK" in env:
        env["NUMBA_CACHE_DIR"] = str(tmp_path / (cache or "numba-cache"))
    out = subprocess.run([sys.executable, "-c", code, *map(str, args)], env=env, cwd=tmp_path,
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    return out


def _assert_same(fast, fallback, exact=("features",)):
    """The numbers of the fallback are those of the fast paths: the ``exact`` ones bit
    for bit (the learned features: the same code, only cached elsewhere), the rest to
    float rounding (the plain loops add a row's products in another order than the IR
    loops' lanes; float32 math but for the ``..._float64`` results)."""
    assert sorted(fast) == sorted(fallback)
    for name in fast:
        if name in exact:
            np.testing.assert_array_equal(fallback[name], fast[name], err_msg=name)
        else:
            tol = 1e-12 if name.endswith("float64") else 1e-5
            np.testing.assert_allclose(fallback[name], fast[name], rtol=tol, atol=tol,
                                       err_msg=name)


def test_the_fast_paths_are_taken_on_this_numba():
    """The checks find this Numba as expected: no fallback unless asked for."""
    assert _jit.cache_internals_problem() is None
    assert _vector.ir_internals_problem() is None
    assert _vector._probe_problem() is None
    if not _config.NUMBA_FALLBACK:
        assert _jit.CACHE_FALLBACK is None
        assert _vector.ir_loops_problem() is None


def test_checks_name_what_differs(monkeypatch):
    import numba.core.caching as caching
    import numba.core.cgutils as cgutils
    from numba.np.ufunc import parallel

    monkeypatch.delattr(caching, "CompileResultCacheImpl")
    assert _jit.cache_internals_problem() == "numba.core.caching has no CompileResultCacheImpl"
    monkeypatch.undo()

    def rebuild(self, target_context, payload, extra):
        pass

    monkeypatch.setattr(caching.CompileResultCacheImpl, "rebuild", rebuild)
    assert _jit.cache_internals_problem() == (
        "CompileResultCacheImpl.rebuild takes (self, target_context, payload, extra), "
        "not (self, target_context, payload)")
    monkeypatch.undo()

    monkeypatch.setattr(parallel, "_launch_threads", None)
    assert _jit.cache_internals_problem() == "numba.np.ufunc.parallel._launch_threads is missing"
    monkeypatch.undo()

    monkeypatch.setattr(caching.IndexDataCacheFile, "__init__", lambda self, *args: None)
    assert _jit.cache_internals_problem() == (
        "IndexDataCacheFile.__init__ no longer uses _index_name")
    monkeypatch.undo()

    real = cgutils.get_item_pointer
    monkeypatch.setattr(cgutils, "get_item_pointer", lambda *args, **kwargs: real(*args, **kwargs))
    assert _vector.ir_internals_problem() == (
        "numba.core.cgutils.get_item_pointer takes (), not (context, builder, aryty, ary, inds)")


def test_plain_loops_compute_what_the_ir_loops_do():
    """The plain loops against the IR loops, over a tile inside wider rows, with four
    sample rows (one twice): the gradient the same bit for bit with fast-math (the
    default: the same fused multiply-adds), the scores' lane sums to float rounding."""
    def loops(scores5, scores1, fold5, fold1, prefetch):
        @numba.njit(fastmath=_config.FASTMATH)
        def run(coef, X, rows, acc, grad, ds, lo, hi):
            r0, r1, r2, r3, ahead = rows[0], rows[1], rows[2], rows[3], rows[4]
            scores5(coef, 0, X, r0, r1, r2, r3, acc, 0, lo, hi, ahead)
            scores1(coef, 5, X, r0, r1, r2, r3, acc, 0, lo, hi, ahead)
            fold5(grad, 0, ds, 0, X, r0, r1, r2, r3, lo, hi, ahead)
            fold1(grad, 5, ds, 0, X, r0, r1, r2, r3, lo, hi, ahead)
            prefetch(X, ahead, 0)

        return run

    v = _vector
    ir = loops(v.ir_tile_scores5, v.ir_tile_scores1, v.ir_tile_fold5, v.ir_tile_fold1,
               v.ir_prefetch)
    plain = loops(v.plain_tile_scores5, v.plain_tile_scores1, v.plain_tile_fold5,
                  v.plain_tile_fold1, v.plain_prefetch)
    rng = np.random.default_rng(0)
    for dtype in (np.float32, np.float64):
        lanes = _vector.VECTOR_BYTES // np.dtype(dtype).itemsize
        width = 40 * lanes
        X = rng.standard_normal((9, width)).astype(dtype)
        coef = rng.standard_normal((6, width)).astype(dtype)
        ds = rng.standard_normal((4, 6)).astype(dtype)
        rows = np.array([6, 1, 6, 3, 8])
        acc0 = rng.standard_normal((4, 6, lanes)).astype(dtype)
        grad0 = rng.standard_normal((6, width)).astype(dtype)
        results = []
        for run in (ir, plain):
            acc, grad = acc0.copy(), grad0.copy()
            run(coef, X, rows, acc, grad, ds, 2 * lanes, width - 2 * lanes)
            results.append((acc.sum(axis=-1, dtype=np.float64), grad))
        (sums_ir, grad_ir), (sums_plain, grad_plain) = results
        assert not np.array_equal(grad_ir, grad0)
        tol = 1e-5 if dtype == np.float32 else 1e-12
        np.testing.assert_allclose(sums_plain, sums_ir, rtol=tol, atol=tol)
        if _config.FASTMATH:
            np.testing.assert_array_equal(grad_plain, grad_ir)
        else:  # the IR loops fuse each multiply-add regardless of the flags
            np.testing.assert_allclose(grad_plain, grad_ir, rtol=tol, atol=tol)


@pytest.mark.slow
def test_forced_fallback_computes_what_the_fast_paths_do(tmp_path):
    """``FASTSOFTMAX_NUMBA_FALLBACK=1``: Numba's standard cache and the plain loops, one
    notice; the loss and gradient, the trained weights and the learned features are
    those of the fast paths."""
    fast = _run(_COMPUTE, tmp_path, tmp_path / "fast.npz")
    assert fast.stdout.strip() == "ir"
    fallback = _run(_COMPUTE, tmp_path, tmp_path / "fallback.npz",
                    FASTSOFTMAX_NUMBA_FALLBACK="1")
    assert fallback.stdout.strip() == "plain"
    notices = [line for line in fallback.stderr.splitlines()
               if "FASTSOFTMAX_NUMBA_FALLBACK" in line]
    assert notices == ["FASTSOFTMAX_NUMBA_FALLBACK=1: kernels are cached by Numba's standard "
                       "cache and the training kernel uses plain loops (slower; the same "
                       "results to float rounding; the first run compiles)"]
    with np.load(tmp_path / "fast.npz") as f, np.load(tmp_path / "fallback.npz") as g:
        _assert_same(dict(f), dict(g))
    # Numba's standard folders, none of the package's flags folders; they keep the
    # default flags only (Numba's key has no flags)
    cache = tmp_path / "numba-cache"
    assert not (cache / _config.CACHE_TAG).exists()
    assert bool(list(cache.rglob("*_kernels*.nbi"))) is _config.DEFAULT_FLAGS
    # a second run loads the kernels from Numba's cache (default flags), same numbers
    again = _run(_COMPUTE, tmp_path, tmp_path / "again.npz", FASTSOFTMAX_NUMBA_FALLBACK="1")
    if _config.DEFAULT_FLAGS:
        assert "compiling" not in again.stderr
    else:
        assert "Numba's standard cache cannot keep it: every run compiles it" in again.stderr
    with np.load(tmp_path / "fast.npz") as f, np.load(tmp_path / "again.npz") as g:
        _assert_same(dict(f), dict(g))


def test_the_fallback_cache_loads_a_kernel_compiled_over_a_parallel_one(tmp_path):
    """The order in which Numba's own cache saves a kernel that crashes the process
    loading it (``test_kernel_cache``; on Numba 0.68.1 too): process 1 caches a kernel
    with the parallel kernel it calls, process 2 compiles another caller over it,
    process 3 loads that caller.  In the fallback a parallel kernel called by kernels
    is never in Numba's cache, so process 2 compiles it afresh, and the entry is whole."""
    from test_kernel_cache import _CALLERS

    (tmp_path / "kern.py").write_text(_CALLERS)
    total = float(sum(range(100)))
    for name, expected in (("first", total), ("second", 3 * total), ("second", 3 * total)):
        call = (f"import sys; sys.path.insert(0, sys.argv[1]); import numpy as np, kern; "
                f"print(kern.{name}(np.arange(100.0)))")
        out = _run(call, tmp_path, tmp_path, FASTSOFTMAX_NUMBA_FALLBACK="1",
                   FASTSOFTMAX_PARALLEL="1", FASTSOFTMAX_FASTMATH="1")
        assert float(out.stdout) == expected
    assert not list((tmp_path / "numba-cache").rglob("kern.parallel_sum-*.nbi"))
    assert list((tmp_path / "numba-cache").rglob("kern.second-*.nbi"))


def test_nothing_is_compiled_ahead_in_the_fallback(tmp_path):
    """The wheel build's precompile step leaves the kernels to their first use when the
    package's cache is not used (its entries would not be read)."""
    out = subprocess.run([sys.executable, "-m", "fastsoftmax._precompile"], cwd=tmp_path,
                         env=dict(os.environ, FASTSOFTMAX_NUMBA_FALLBACK="1",
                                  NUMBA_CACHE_DIR=str(tmp_path / "numba-cache")),
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stderr.splitlines()[-1] == ("fastsoftmax: no kernels compiled ahead: they "
                                           "compile on first use (FASTSOFTMAX_NUMBA_FALLBACK "
                                           "is set)")
    assert not (tmp_path / "numba-cache").exists()


# A later Numba, simulated before fastsoftmax is imported: a caching class renamed, and
# a function the IR loops call given another signature (it still works: Numba calls it).
_RENAMED = textwrap.dedent('''
    import numba.core.caching as caching
    import numba.core.cgutils as cgutils

    caching.CompileResultCacheImplRenamed = caching.CompileResultCacheImpl
    del caching.CompileResultCacheImpl
    get_item_pointer = cgutils.get_item_pointer
    cgutils.get_item_pointer = lambda *args, **kwargs: get_item_pointer(*args, **kwargs)
''')
_TRAIN = "from fastsoftmax.cli import main; main()"
_DEFAULT_FLAGS = {"FASTSOFTMAX_FASTMATH": "1", "FASTSOFTMAX_PARALLEL": "1"}


@pytest.mark.slow
def test_a_renamed_numba_internal_falls_back_and_train_gives_the_same_run(tmp_path):
    """``fastsoftmax train`` with both fast paths' internals changed: each fallback is
    said once, in one line, and the run reports the numbers of a run on the fast paths,
    the final loss to float rounding (each run with its own data folder, so both compute
    their features)."""
    import json

    runs = {}
    for name, prelude in (("fast", ""), ("renamed", _RENAMED)):
        (tmp_path / name).mkdir()
        runs[name] = _run(prelude + _TRAIN, tmp_path, "train", "--json",
                          cache="numba-cache" if prelude else None,
                          FASTSOFTMAX_DATA=str(tmp_path / name), **_DEFAULT_FLAGS)
    reason = "numba.core.caching has no CompileResultCacheImpl"
    loops = "numba.core.cgutils.get_item_pointer takes (), not (context, builder, aryty, ary, inds)"
    expected = {
        f"Numba {_NUMBA} is not what fastsoftmax's fast path expects ({reason}): "
        f"{_CACHE_NOTICE} (the same results; the first run compiles)",
        f"Numba {_NUMBA} is not what fastsoftmax's fast path expects ({loops}): "
        f"{_LOOPS_NOTICE} (slower; the same results to float rounding)",
    }
    stderr = runs["renamed"].stderr.splitlines()
    notices = [line.removeprefix("fastsoftmax: ") for line in stderr if "fast path expects" in line]
    assert sorted(notices) == sorted(expected)
    assert "fast path expects" not in runs["fast"].stderr
    fast, renamed = (json.loads(runs[name].stdout) for name in ("fast", "renamed"))
    assert renamed.pop("final_loss") == pytest.approx(fast.pop("final_loss"), rel=1e-5)
    for report in (fast, renamed):
        del report["seconds"]
    assert renamed == fast  # the accuracies too


# The IR loops' code generation fails (as when LLVM no longer accepts an intrinsic),
# with every name and signature as expected: found by compiling them once.
_IR_FAILS = textwrap.dedent('''
    import functools

    import numba.core.cgutils as cgutils

    get_or_insert_function = cgutils.get_or_insert_function


    @functools.wraps(get_or_insert_function)
    def refusing(module, fnty, name):
        if name.startswith("llvm.prefetch"):
            raise NotImplementedError(name)
        return get_or_insert_function(module, fnty, name)


    cgutils.get_or_insert_function = refusing
''')
_FIT = textwrap.dedent('''
    import sys

    import numpy as np

    from fastsoftmax.model.classifier import SoftmaxClassifier
    from fastsoftmax.softmax import _kernels

    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((600, 130)), rng.integers(0, 11, 600)
    np.save(sys.argv[1], SoftmaxClassifier(epochs=3, batch_size=200, random_state=0)
            .fit(X, y).coef_)
    print("".join(_kernels._group_scores.inspect_llvm().values()).count("llvm.prefetch"))
''')


@pytest.mark.slow
def test_ir_loops_that_do_not_compile_fall_back_to_the_plain_loops(tmp_path):
    """The plain loops compiled in (no prefetch left in the kernel, where the IR loops
    leave theirs in their caller's code), the package's cache kept, one notice; the
    weights of the fast paths."""
    from fastsoftmax.model.classifier import SoftmaxClassifier

    out = _run(_IR_FAILS + _FIT, tmp_path, tmp_path / "coef.npy", cache="numba-cache")
    assert out.stdout.strip() == "0"
    notices = [line for line in out.stderr.splitlines() if "fast path expects" in line]
    assert notices == [f"Numba {_NUMBA} is not what fastsoftmax's fast path expects "
                       f"(the LLVM IR loops do not compile: NotImplementedError): "
                       f"{_LOOPS_NOTICE} (slower; the same results to float rounding)"]
    assert list((tmp_path / "numba-cache" / _config.CACHE_TAG).rglob("*.nbi"))

    @numba.njit
    def prefetching(X):
        _vector.ir_prefetch(X, 0, 0)

    prefetching(np.zeros((1, 1)))
    assert "llvm.prefetch" in "".join(prefetching.inspect_llvm().values())
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((600, 130)), rng.integers(0, 11, 600)
    fast = SoftmaxClassifier(epochs=3, batch_size=200, random_state=0).fit(X, y).coef_
    _assert_same({"coef": fast}, {"coef": np.load(tmp_path / "coef.npy")})
