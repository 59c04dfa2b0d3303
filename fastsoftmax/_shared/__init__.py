"""Private leaf: Numba configuration and caching, progress reports, presets, sizes."""
