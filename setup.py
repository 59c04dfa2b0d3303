"""Build the Cython kernels in ``ext/`` as extension modules of the package.

Every ``ext/<name>.pyx`` becomes ``fastsoftmax.<name>``; metadata lives in
``pyproject.toml``.
"""
from pathlib import Path

from setuptools import Extension, setup

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


setup(ext_modules=_cython_extensions())
