"""Our learned-feature pipeline against scikit-learn's, on CIFAR-10, at any size (issue 17).

The two sides of ``fastsoftmax bench --only kmeans_pipeline``
(:mod:`fastsoftmax.bench.learned`) on sizes of your choosing: ``ImagePipeline`` with
``KMeansFeatures`` and the ``--features kmeans`` classifier defaults, against the same
whitened patches clustered by scikit-learn's ``KMeans``, encoded by the NumPy reference
encoder and classified by ``LogisticRegression`` (lbfgs, same objective).  Each side
runs ``--rounds`` times, interleaved; the medians give the speed-up.  Run from the
project root, e.g.::

    python benchmarks/kmeans_pipeline.py                                    # 5,000 / 1,000, K 1,600
    python benchmarks/kmeans_pipeline.py --n-train 40000 --n-test 10000    # the whole dev copy
    python benchmarks/kmeans_pipeline.py --n-train 2000 --n-centroids 400 --n-patches 100000
"""
import argparse
import json
import os
import statistics
import subprocess
import time


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", default="../shared/data/cifar10-dev/cifar-10-batches-py")
    p.add_argument("--n-train", type=int, default=5_000, help="first N training images")
    p.add_argument("--n-test", type=int, default=1_000, help="first N test_batch images")
    p.add_argument("--n-centroids", type=int, default=1600)
    p.add_argument("--n-patches", type=int, default=400_000)
    p.add_argument("--max-iter", type=int, default=50, help="k-means iterations")
    p.add_argument("--rounds", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", default=None, help="write the results to this file")
    return p.parse_args(argv)


def _uptime():
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    except OSError:
        return str(os.getloadavg())


def main(argv=None):
    args = parse_args(argv)
    from fastsoftmax.bench import learned
    from fastsoftmax.data import load_cifar10
    from fastsoftmax._shared.presets import KMEANS_CLASSIFIER

    (X, y), (X_test, y_test) = load_cifar10(args.data)
    X, y = X[:args.n_train], y[:args.n_train]
    X_test, y_test = X_test[:args.n_test], y_test[:args.n_test]
    params = learned.feature_params(args.n_centroids, args.n_patches, args.max_iter)
    blas_threads, probe = learned.reference_blas_threads(params)
    print(f"{len(y)} training / {len(y_test)} held-out images, K={args.n_centroids}, "
          f"{args.n_patches:,} patches; reference BLAS threads: {blas_threads or 'default'} "
          f"(encoder ms/image: {probe})", flush=True)
    learned.fast_pipeline(X[:40], y[:40], X_test[:10], y_test[:10],
                          learned.feature_params(8, 500, 2))  # compiles; never timed

    sides = {
        "fast": lambda: learned.fast_pipeline(X, y, X_test, y_test, params, seed=args.seed),
        "reference": lambda: learned.reference_pipeline(
            X, y, X_test, y_test, params, KMEANS_CLASSIFIER["alpha"], seed=args.seed,
            blas_threads=blas_threads),
    }
    result = {"args": vars(args), "uptime_start": _uptime(), "reference_blas_threads":
              blas_threads or "default", "reference_encoder_ms_per_image": probe}
    seconds = {"fast": [], "reference": []}
    outputs = {}
    for r in range(args.rounds):
        for side in (("fast", "reference") if r % 2 == 0 else ("reference", "fast")):
            start = time.perf_counter()
            outputs[side] = sides[side]()
            seconds[side].append(time.perf_counter() - start)
            print(f"round {r + 1} {side:>9}: {seconds[side][-1]:7.1f} s, accuracy "
                  f"{outputs[side]['accuracy']:.4f}, stages "
                  + ", ".join(f"{k} {v:.1f}" for k, v in outputs[side]["seconds"].items()),
                  flush=True)
    result.update(learned.summarize(outputs["fast"], outputs["reference"]))
    result["seconds"] = seconds
    result["speedup"] = statistics.median(seconds["reference"]) / statistics.median(seconds["fast"])
    result["uptime_end"] = _uptime()
    print(f"speed-up {result['speedup']:.2f}x; accuracy {result['fast_accuracy']:.4f} (ours) "
          f"against {result['reference_accuracy']:.4f} (scikit-learn)")
    print(result["uptime_end"])
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
