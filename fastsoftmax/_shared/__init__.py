"""Private leaf: Numba configuration and caching, progress reports, presets, sizes,
cache-line-aligned arrays, the package version."""
