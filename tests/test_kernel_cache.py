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
    from fastsoftmax._config import JIT_OPTIONS
    from fastsoftmax._jit import jit


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
    from fastsoftmax import _config

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


def test_cache_folder_names_the_flags():
    from fastsoftmax import _config, _jit
    from fastsoftmax.softmax import _numba

    assert _config.CACHE_TAG == (f"fastmath{int(bool(_config.FASTMATH))}"
                                 f"-parallel{int(_config.PARALLEL)}")
    if _config.CACHE:
        assert _config.CACHE_TAG in _numba._sgd_kernel._cache.cache_path
    assert _jit.cache_root().endswith(os.path.join("_kernel_cache", _config.CACHE_TAG))


def test_feature_cache_key_covers_the_package_version(monkeypatch):
    import fastsoftmax
    from fastsoftmax.data import cache

    images = np.arange(12, dtype=np.uint8).reshape(3, 2, 2)
    key = cache.cache_key(images, kind="hog")
    assert cache.code_version().startswith(fastsoftmax.__version__ + "+")
    monkeypatch.setattr(fastsoftmax, "__version__", "999.0")
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

    from fastsoftmax._jit import save_lock

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

    from fastsoftmax import _jit

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


_PARALLEL_KERNELS = textwrap.dedent('''
    import numba
    import numpy as np

    from fastsoftmax._config import JIT_OPTIONS, PARALLEL_JIT_OPTIONS
    from fastsoftmax._jit import jit


    @jit(PARALLEL_JIT_OPTIONS)
    def parallel_sum(x):
        total = 0.0
        for i in numba.prange(x.shape[0]):
            total += x[i]
        return total


    @jit(JIT_OPTIONS)
    def serial_caller(x):
        return 2.0 * parallel_sum(x)
''')


def _call_in_fresh_process(folder, expression):
    env = dict(os.environ, NUMBA_CACHE_DIR=str(folder / "cache"))
    env.pop("FASTSOFTMAX_CACHE", None)
    code = ("import sys; sys.path.insert(0, sys.argv[1]); import numpy as np, pkern; "
            f"print({expression})")
    return subprocess.run([sys.executable, "-c", code, str(folder)], env=env, cwd=folder,
                          capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_serial_kernel_calling_a_cached_parallel_kernel_loads_in_a_fresh_process(tmp_path):
    # Numba gives a kernel that calls a parallel one the callee's hook "start the
    # threads on load" only when the callee was compiled in the same process; compiled
    # beside a callee loaded from the cache, the caller's entry lacks it, and a fresh
    # process that loads that entry first called a null pointer (segfault).
    from fastsoftmax import _config

    if not _config.PARALLEL:
        pytest.skip("FASTSOFTMAX_PARALLEL=0: no parallel kernels")
    (tmp_path / "pkern.py").write_text(_PARALLEL_KERNELS)
    steps = ["pkern.parallel_sum(np.arange(100.0))",  # caches the parallel kernel
             "pkern.serial_caller(np.arange(100.0))",  # the callee loaded, the caller compiled
             "pkern.serial_caller(np.arange(100.0))"]  # both loaded, the caller first
    outputs = [_call_in_fresh_process(tmp_path, step) for step in steps]
    for out in outputs:
        assert out.returncode == 0, out.stderr[-2000:]
    assert [out.stdout.strip() for out in outputs] == ["4950.0", "9900.0", "9900.0"]
