"""The kernels' on-disk cache: a hit loads silently, anything that does not match the
entry (flags, source, Numba version, CPU) compiles again and says so first; the
feature cache's key covers the package version."""
import os
import pickle
import subprocess
import sys
import textwrap

import numpy as np
import pytest

_KERNEL = textwrap.dedent('''
    from fastsoftmax._shared.config import JIT_OPTIONS
    from fastsoftmax._shared.jit import jit


    @jit(JIT_OPTIONS, notice="the {dtype} test kernel", compile_seconds=1)
    def double_sum(x):
        total = 0.0
        for v in x:
            total += 2.0 * v
        return total
''')

_CALL = ("import sys; sys.path.insert(0, sys.argv[1]); import numpy as np, kern; "
         "print(kern.double_sum(np.arange(5.0)))")


def _run(folder, **env):
    env = dict(os.environ, NUMBA_CACHE_DIR=str(folder / "cache"), **env)
    env.pop("FASTSOFTMAX_CACHE", None)
    out = subprocess.run([sys.executable, "-c", _CALL, str(folder)], env=env, cwd=folder,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "20.0"  # 2 * (0 + 1 + 2 + 3 + 4)
    return out.stderr


def _index_files(folder, tag):
    return sorted((folder / "cache" / tag).rglob("kern.double_sum-*.nbi"))


@pytest.mark.slow
def test_cache_hits_silently_and_recompiles_with_a_notice_on_any_mismatch(tmp_path):
    from fastsoftmax._shared import config as _config

    (tmp_path / "kern.py").write_text(_KERNEL)
    fastmath = int(bool(_config.FASTMATH))
    other_tag = _config.CACHE_TAG.replace(f"fastmath{fastmath}", f"fastmath{1 - fastmath}")
    notice = "compiling the float64 test kernel once for this machine and settings, about 1 s"

    assert notice in _run(tmp_path)  # cold: compiles, and says so
    [index] = _index_files(tmp_path, _config.CACHE_TAG)
    assert "compiling" not in _run(tmp_path)  # warm: loaded from the cache

    # other flags: their own folder, never the fast-math entry
    assert notice in _run(tmp_path, FASTSOFTMAX_FASTMATH=str(1 - fastmath))
    assert len(_index_files(tmp_path, other_tag)) == 1
    assert "compiling" not in _run(tmp_path)

    # another CPU (Numba's key holds the CPU name and features)
    assert notice in _run(tmp_path, NUMBA_CPU_NAME="generic")

    # an entry written by another Numba version
    with open(index, "rb") as f:
        pickle.load(f)
        rest = f.read()
    index.write_bytes(pickle.dumps("0.0.0") + rest)
    assert notice in _run(tmp_path)
    assert "compiling" not in _run(tmp_path)

    # an edited source file (Numba stamps entries with the file's sha256)
    (tmp_path / "kern.py").write_text(_KERNEL + "\n# edited\n")
    assert notice in _run(tmp_path)


_DEPENDENT_KERNEL = textwrap.dedent('''
    import os

    import helper
    from fastsoftmax._shared.config import JIT_OPTIONS
    from fastsoftmax._shared.jit import compiled_from, jit

    compiled_from(__file__, helper.__file__)


    @jit(JIT_OPTIONS, notice="the {dtype} dependent kernel", compile_seconds=1)
    def scaled_sum(x):
        total = 0.0
        for v in x:
            total += helper.FACTOR * v
        return total
''')


@pytest.mark.slow
def test_cache_entry_is_stale_when_a_declared_file_changes(tmp_path):
    """A kernel compiles in code from another file (here a constant; in the package the
    IR loops of ``softmax/_vector.py``): declared with ``compiled_from``, an edit there
    is a miss, where Numba's own stamp (the kernel's file) would load the old code."""
    (tmp_path / "kern.py").write_text(_DEPENDENT_KERNEL)
    (tmp_path / "helper.py").write_text("FACTOR = 2.0\n")
    call = ("import sys; sys.path.insert(0, sys.argv[1]); import numpy as np, kern; "
            "print(kern.scaled_sum(np.arange(5.0)))")
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "cache"))
    env.pop("FASTSOFTMAX_CACHE", None)

    def run():
        out = subprocess.run([sys.executable, "-c", call, str(tmp_path)], env=env,
                             cwd=tmp_path, capture_output=True, text=True, timeout=300)
        assert out.returncode == 0, out.stderr
        return out.stdout.strip(), "compiling the float64 dependent kernel" in out.stderr

    assert run() == ("20.0", True)
    assert run() == ("20.0", False)  # loaded from the cache
    (tmp_path / "helper.py").write_text("FACTOR = 3.0\n")
    assert run() == ("30.0", True)  # the helper changed: compiled again, not the old code
    assert run() == ("30.0", False)


def test_cache_folder_names_the_flags():
    from fastsoftmax._shared import config as _config
    from fastsoftmax._shared import jit as _jit
    from fastsoftmax.softmax import _numba

    assert _config.CACHE_TAG == (f"fastmath{int(bool(_config.FASTMATH))}"
                                 f"-parallel{int(_config.PARALLEL)}")
    if _config.CACHE:
        assert _config.CACHE_TAG in _numba._sgd_kernel._cache.cache_path
    assert _jit.cache_root().endswith(os.path.join("_kernel_cache", _config.CACHE_TAG))


def test_feature_cache_key_covers_the_package_version(monkeypatch):
    import fastsoftmax
    from fastsoftmax.io import cache

    images = np.arange(12, dtype=np.uint8).reshape(3, 2, 2)
    key = cache.cache_key(images, kind="hog")
    assert cache.code_version().startswith(fastsoftmax.__version__ + "+")
    monkeypatch.setattr(cache, "__version__", "999.0")
    cache.code_version.cache_clear()
    try:
        assert cache.cache_key(images, kind="hog") != key
    finally:
        cache.code_version.cache_clear()


def test_saves_of_one_kernel_are_serialized_between_writers(tmp_path):
    """While one writer holds a kernel's save lock, another waits for it (Numba numbers a
    new data file from the index it read, so two unserialized saves could both take
    number 1 and leave an entry pointing at the other signature's code)."""
    import threading

    from fastsoftmax._shared.jit import save_lock

    held, entered, release = threading.Event(), threading.Event(), threading.Event()

    def first():
        with save_lock(tmp_path, "kernel.nbi"):
            held.set()
            release.wait(10)

    def second():
        held.wait(10)
        with save_lock(tmp_path, "kernel.nbi"):
            entered.set()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    assert held.wait(10)
    assert not entered.wait(0.3)  # the second writer is still waiting
    release.set()
    assert entered.wait(10)
    for thread in threads:
        thread.join(10)
    assert (tmp_path / "kernel.nbi.lock").is_file()


def test_kernel_cache_saves_through_the_lock(tmp_path, monkeypatch):
    """A compiled kernel's cache entry is written while its save lock is held."""
    import contextlib

    import numba

    from fastsoftmax._shared import jit as _jit

    monkeypatch.setattr(numba.config, "CACHE_DIR", str(tmp_path))
    locked = []

    @contextlib.contextmanager
    def recording_lock(folder, name):
        locked.append(name)
        yield

    monkeypatch.setattr(_jit, "save_lock", recording_lock)

    def twice(x):
        return 2 * x

    kernel = _jit.jit({"cache": True, "nogil": True})(twice)
    assert kernel(3.0) == 6.0
    assert locked and locked[0].endswith(".nbi")
    assert list(tmp_path.rglob(locked[0]))  # the index was written


# A serial kernel over a parallel one, as ``_sgd_kernel`` and ``_minibatch_kernel`` call
# ``_batch_loss_grad``: the parallel kernel's code is linked into each caller's entry.
_CALLERS = textwrap.dedent('''
    import numba

    from fastsoftmax._shared.config import JIT_OPTIONS, PARALLEL_JIT_OPTIONS
    from fastsoftmax._shared.jit import jit


    @jit(PARALLEL_JIT_OPTIONS)
    def parallel_sum(x):
        total = 0.0
        for i in numba.prange(x.shape[0]):
            total += x[i]
        return total


    @jit(JIT_OPTIONS)
    def first(x):
        return parallel_sum(x)


    @jit(JIT_OPTIONS)
    def second(x):
        return 3.0 * parallel_sum(x)
''')


# process 2 as a fastsoftmax without the fix ran it: Numba's own loading
_NUMBA_REBUILD = ("import fastsoftmax._shared.jit as j, numba.core.caching as c; "
                  "j._KernelCacheImpl.rebuild = c.CompileResultCacheImpl.rebuild; ")


def _run_caller(folder, name, prelude=""):
    """Call ``kern.<name>(arange(100))`` in a fresh interpreter; its exit code and output."""
    call = (f"import sys; sys.path.insert(0, sys.argv[1]); {prelude}import numpy as np, kern; "
            f"print(kern.{name}(np.arange(100.0)))")
    env = dict(os.environ, NUMBA_CACHE_DIR=str(folder / "cache"), FASTSOFTMAX_PARALLEL="1")
    env.pop("FASTSOFTMAX_CACHE", None)
    out = subprocess.run([sys.executable, "-c", call, str(folder)], env=env, cwd=folder,
                         capture_output=True, text=True, timeout=300)
    return out.returncode, out.stdout.strip()


def _names_in_entry(folder, name):
    """The strings of a cache entry's pickled payload, read without unpickling it (that
    would import the kernel's module)."""
    import pickletools

    [data] = (folder / "cache").rglob(f"kern.{name}-*.1.nbc")
    return {arg for _, arg, _ in pickletools.genops(data.read_bytes()) if isinstance(arg, str)}


@pytest.mark.slow
@pytest.mark.parametrize("old_entry", [False, True], ids=["fixed-entry", "old-entry"])
def test_a_kernel_compiled_over_a_cached_parallel_kernel_loads_in_a_fresh_process(tmp_path,
                                                                                  old_entry):
    """Process 1 compiles and caches ``first`` with the parallel kernel it calls; process
    2 compiles ``second`` over that kernel loaded from process 1's entry; process 3 loads
    ``second`` from the cache.  Numba saved process 2's entry without the start of the
    threading layer, and process 3 died of a segfault on its first call (numba#8578).
    Now the entry is saved whole, and an entry saved without it (old-entry: process 2
    loads as Numba does) loads safely too."""
    (tmp_path / "kern.py").write_text(_CALLERS)
    total = sum(range(100))
    assert _run_caller(tmp_path, "first") == (0, f"{float(total)}")
    assert "_reload_parfors" in _names_in_entry(tmp_path, "first")
    assert _run_caller(tmp_path, "second", _NUMBA_REBUILD if old_entry else "") == (
        0, f"{3.0 * total}")
    # whole: the entry starts the threading layer on its own, as process 1's does
    assert ("_reload_parfors" in _names_in_entry(tmp_path, "second")) is not old_entry
    assert _run_caller(tmp_path, "second") == (0, f"{3.0 * total}")


_FIT = ("import numpy as np; from fastsoftmax.model.classifier import SoftmaxClassifier; "
        "rng = np.random.default_rng(0); "
        "SoftmaxClassifier().fit(rng.standard_normal((64, 10)), rng.integers(0, 3, 64))")
_LOSS_AND_GRADIENT = (
    "import json, numpy as np; from fastsoftmax.softmax import loss_and_gradient; "
    "rng = np.random.default_rng(1); f32 = np.float32; "
    "X = rng.standard_normal((50, 10)).astype(f32); y = rng.integers(0, 3, 50); "
    "W = rng.standard_normal((10, 3)).astype(f32); "
    "loss, dW, db = loss_and_gradient(W.T, np.zeros(3, f32), X, y, 'l2', 0.1, backend='numba'); "
    "print(json.dumps([float(loss), dW.tolist(), db.tolist()]))")


@pytest.mark.slow
def test_fit_then_loss_and_gradient_twice_in_three_processes(tmp_path):
    """The reported order, with the package's kernels in a cache of the test's own:
    ``fit`` caches the training kernel and the parallel kernel it calls;
    ``loss_and_gradient`` compiles its kernel over that cached kernel; the next
    ``loss_and_gradient`` loads it from the cache (it died of a segfault) and agrees
    with the NumPy backend."""
    import json

    from fastsoftmax.softmax import loss_and_gradient

    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path), FASTSOFTMAX_PARALLEL="1")
    env.pop("FASTSOFTMAX_CACHE", None)

    def run(code):
        return subprocess.run([sys.executable, "-c", code], env=env, cwd=tmp_path,
                              capture_output=True, text=True, timeout=300)

    assert run(_FIT).returncode == 0
    assert run(_LOSS_AND_GRADIENT).returncode == 0
    third = run(_LOSS_AND_GRADIENT)
    assert third.returncode == 0, third.stderr
    assert "compiling" not in third.stderr  # loaded from the cache
    loss, dW, db = json.loads(third.stdout)
    rng = np.random.default_rng(1)
    X = rng.standard_normal((50, 10)).astype(np.float32)
    y = rng.integers(0, 3, 50)
    W = rng.standard_normal((10, 3)).astype(np.float32)
    ref_loss, ref_dW, ref_db = loss_and_gradient(W.T, np.zeros(3, np.float32), X, y, "l2", 0.1,
                                                 backend="numpy")
    np.testing.assert_allclose(loss, ref_loss, rtol=1e-5)
    np.testing.assert_allclose(dW, ref_dW, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(db, ref_db, rtol=1e-4, atol=1e-6)
