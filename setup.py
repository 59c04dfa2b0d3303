"""Build the Cython kernels in ``ext/`` as extension modules of the package, and
compile the Numba kernels into the built package so that the wheel ships them.

Every ``ext/<name>.pyx`` becomes ``fastsoftmax.<name>``; metadata lives in
``pyproject.toml``.
"""
import os
import shutil
import subprocess
import sys
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).parent


def _cython_extensions():
    from Cython.Build import cythonize

    sources = sorted((HERE / "ext").glob("*.pyx"))
    extensions = [
        Extension(
            f"fastsoftmax.{src.stem}",
            [str(src.relative_to(HERE))],
            extra_compile_args=["-O3"],
        )
        for src in sources
    ]
    return cythonize(extensions, language_level=3, compiler_directives={"embedsignature": True})


class BuildPyWithKernels(build_py):
    """``build_py``, then the Numba kernels compiled into ``fastsoftmax/_kernel_cache``.

    The cache is made afresh in the build folder by importing the built modules (never
    copied from the source tree), so its entries are stamped with the sources being
    installed.  Skipped for editable installs (kernels then compile on first use, into
    the source tree) and with ``FASTSOFTMAX_BUILD_KERNELS=0``; a failure only costs
    the first run its compile, so it warns instead of failing the build.
    """

    def run(self):
        super().run()
        if getattr(self, "editable_mode", False) or os.environ.get(
                "FASTSOFTMAX_BUILD_KERNELS", "1").strip() == "0":
            return
        build_lib = os.path.abspath(self.build_lib)
        shutil.rmtree(os.path.join(build_lib, "fastsoftmax", "_kernel_cache"), ignore_errors=True)
        env = {k: v for k, v in os.environ.items()
               if k not in ("NUMBA_CACHE_DIR", "NUMBA_DISABLE_JIT", "FASTSOFTMAX_CACHE",
                            "FASTSOFTMAX_NUMBA_FALLBACK")}
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [build_lib, env.get("PYTHONPATH")]))
        print("compiling the Numba kernels into the package (about 30 s)", file=sys.stderr)
        done = subprocess.run([sys.executable, "-m", "fastsoftmax._precompile"], cwd=build_lib,
                              env=env)
        if done.returncode != 0:
            shutil.rmtree(os.path.join(build_lib, "fastsoftmax", "_kernel_cache"),
                          ignore_errors=True)
            print("warning: the Numba kernels could not be compiled ahead; the first run "
                  "will compile them", file=sys.stderr)


setup(ext_modules=_cython_extensions(), cmdclass={"build_py": BuildPyWithKernels})
