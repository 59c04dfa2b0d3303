"""Speed of the learned-feature stage (issue 17): the fused encoder and the k-means.

Groups (fast path and reference side by side, warm-up rounds so compilation never counts):

``kmeans-encoder``
    :func:`fastsoftmax.features.encoding.encode` (Numba, BLAS on cache-sized tiles) vs
    :func:`~fastsoftmax.features._encoder_kernels.encode_reference` in float32 (the same
    precision; image by image with the whole distance array) on CIFAR-sized random
    images, K = 1,600; and a large float32 matmul on the BLAS threads, the GEMM peak.
``kmeans-lloyd``
    Our Numba k-means vs scikit-learn's ``KMeans(algorithm="lloyd")``, the same number
    of iterations from the same initial centroids (scikit-learn adds a final
    assignment pass for the labels and inertia).

Run with pytest (``FASTSOFTMAX_BENCH_SIZE=full`` for the issue's sizes and targets)::

    pytest benchmarks/bench_kmeans.py --benchmark-group-by=group

or as a script, which interleaves the rounds of the sides (fairer on a busy machine)
and prints medians, GFLOP/s and ratios::

    python benchmarks/bench_kmeans.py [--full] [--rounds 5]
"""
import argparse
import os
import time

import numpy as np
import pytest

SIZE = os.environ.get("FASTSOFTMAX_BENCH_SIZE", "quick")
#: images encoded, k-means points, k-means centroids, k-means iterations
SIZES = {"quick": (64, 50_000, 400, 5), "full": (512, 400_000, 1600, 10)}
K = 1600
PATCH = 6
ENCODER_TARGET_SPEEDUP = 4.0
ENCODER_TARGET_PEAK_FRACTION = 0.5
_medians = {}


def encoder_case(n_images, k=K, seed=0):
    """Random CIFAR-sized images and a plausible whitening and dictionary."""
    from fastsoftmax.bench.inputs import encoder_problem

    return encoder_problem(n_images, k, patch_size=PATCH, seed=seed)


def encoder_flops(n_images, k=K):
    """Multiply-adds x 2 of the dictionary products (the issue's count; whitening adds D/K)."""
    return 2.0 * n_images * 27 * 27 * PATCH * PATCH * 3 * k


def encoder_sides(n_images):
    from fastsoftmax.features import _encoder_kernels as _encoder
    from fastsoftmax.features.encoding import encode

    images, mean, matrix, centers = encoder_case(n_images)
    n_ref = max(8, n_images // 8)  # the reference is timed on fewer images, per image
    return {
        "fast": (lambda: encode(images, PATCH, 1, 10.0, mean, matrix, centers), n_images),
        "reference-float32": (lambda: _encoder.encode_reference(
            images[:n_ref], PATCH, 1, 10.0, mean, matrix, centers, dtype=np.float32), n_ref),
        "reference-float64": (lambda: _encoder.encode_reference(
            images[:n_ref], PATCH, 1, 10.0, mean, matrix, centers), n_ref),
    }


def gemm_side(n=4096):
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    return lambda: a @ b, 2.0 * n ** 3


def lloyd_sides(n_points, k, n_iter, seed=0):
    """Our k-means and scikit-learn's, ``n_iter`` Lloyd iterations from the same centroids."""
    from sklearn.cluster import KMeans

    from fastsoftmax.features import _dictionary_kernels as _kmeans

    rng = np.random.default_rng(seed)
    points = rng.standard_normal((n_points, PATCH * PATCH * 3), dtype=np.float32)
    # our kmeans() starts from the sorted sample it draws: give scikit-learn the same one
    init = points[np.sort(np.random.RandomState(seed).choice(n_points, k, replace=False))]

    def ours():
        return _kmeans.kmeans(points, k, n_iter, np.random.RandomState(seed))

    def sklearn():
        return KMeans(k, init=init, n_init=1, max_iter=n_iter, tol=0, algorithm="lloyd").fit(points)

    return {"numba": ours, "sklearn": sklearn}


# ---------------------------------------------------------------- pytest-benchmark
def _record(benchmark, key, units):
    stats = getattr(benchmark, "stats", None)
    if stats is not None:
        _medians[key] = stats.stats.median / units


@pytest.mark.parametrize("side", ["fast", "reference-float32", "reference-float64", "gemm"])
def test_encoder(benchmark, side):
    n_images = SIZES[SIZE][0]
    benchmark.group = "kmeans-encoder"
    if side == "gemm":
        fn, flops = gemm_side()
        benchmark.extra_info.update(unit="GEMM", flops=flops)
        benchmark.pedantic(fn, warmup_rounds=1, rounds=5, iterations=1)
        _record(benchmark, side, flops)  # seconds per flop
        return
    fn, units = encoder_sides(n_images)[side]
    benchmark.extra_info.update(unit="image", units=units, K=K, size=SIZE)
    benchmark.pedantic(fn, warmup_rounds=1, rounds=3 if side == "fast" else 2, iterations=1)
    _record(benchmark, side, units)


@pytest.mark.parametrize("side", ["numba", "sklearn"])
def test_lloyd(benchmark, side):
    _, n_points, k, n_iter = SIZES[SIZE]
    benchmark.group = "kmeans-lloyd"
    benchmark.extra_info.update(points=n_points, K=k, iterations=n_iter, size=SIZE)
    benchmark.pedantic(lloyd_sides(n_points, k, n_iter)[side], warmup_rounds=1, rounds=3,
                       iterations=1)
    _record(benchmark, side, 1)


def test_encoder_targets():
    """Issue targets: 4x the float32 reference and half the GEMM peak (full size only)."""
    if SIZE != "full":
        pytest.skip("targets are for FASTSOFTMAX_BENCH_SIZE=full")
    if not {"fast", "reference-float32", "gemm"} <= set(_medians):
        pytest.skip("needs the encoder benchmarks timed in this run")
    speedup = _medians["reference-float32"] / _medians["fast"]
    gflops = encoder_flops(1) / _medians["fast"] / 1e9
    peak = 1.0 / _medians["gemm"] / 1e9
    print(f"\nencoder {gflops:.0f} GFLOP/s, GEMM peak {peak:.0f} GFLOP/s "
          f"({gflops / peak:.0%}), {speedup:.1f}x the float32 reference")
    assert speedup >= ENCODER_TARGET_SPEEDUP
    assert gflops >= ENCODER_TARGET_PEAK_FRACTION * peak


# ---------------------------------------------------------------- interleaved script
def main(argv=None):
    parser = argparse.ArgumentParser(description="Interleaved encoder / k-means timings.")
    parser.add_argument("--full", action="store_true", help="the issue's sizes")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--skip-lloyd", action="store_true")
    args = parser.parse_args(argv)
    n_images, n_points, k, n_iter = SIZES["full" if args.full else "quick"]
    timed = {name: (fn, units) for name, (fn, units) in encoder_sides(n_images).items()}
    fn, flops = gemm_side()
    timed["gemm"] = (fn, flops)
    if not args.skip_lloyd:
        timed.update({f"lloyd-{name}": (fn, 1) for name, fn in lloyd_sides(n_points, k, n_iter).items()})
    for fn, _ in timed.values():  # warm-up: compilation and caches
        fn()
    times = {name: [] for name in timed}
    print("load at start:", os.getloadavg())
    for _ in range(args.rounds):
        for name, (fn, units) in timed.items():
            start = time.perf_counter()
            fn()
            times[name].append((time.perf_counter() - start) / units)
    print("load at end:  ", os.getloadavg())
    med = {name: float(np.median(v)) for name, v in times.items()}
    peak = 1.0 / med["gemm"] / 1e9
    print(f"GEMM peak (4096^3 float32 matmul): {peak:.0f} GFLOP/s")
    for name in ("fast", "reference-float32", "reference-float64"):
        gflops = encoder_flops(1) / med[name] / 1e9
        print(f"encoder {name:>18}: {1e3 * med[name]:7.3f} ms/image  {gflops:6.1f} GFLOP/s "
              f"({gflops / peak:.0%} of peak)  spread {np.ptp(times[name]) / med[name]:.0%}")
    print(f"encoder speed-up: {med['reference-float32'] / med['fast']:.2f}x float32 reference, "
          f"{med['reference-float64'] / med['fast']:.2f}x float64 reference")
    if not args.skip_lloyd:
        print(f"k-means, {n_iter} iterations, {n_points} x 108 points, K={k}: "
              f"numba {med['lloyd-numba']:.3f} s, "
              f"scikit-learn {med['lloyd-sklearn']:.3f} s "
              f"({med['lloyd-sklearn'] / med['lloyd-numba']:.2f}x)")
    return med


if __name__ == "__main__":
    main()
