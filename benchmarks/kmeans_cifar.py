"""Learned features on CIFAR-10 end to end: accuracy, seconds per stage, memory.

KMeansFeatures (the command line's defaults unless overridden) -> FeatureScaler ->
SoftmaxClassifier, trained on the training batches and scored on ``test_batch``
(the development copy's validation set).  Run from the project root, e.g.::

    /usr/bin/time -v python benchmarks/kmeans_cifar.py                 # the defaults
    python benchmarks/kmeans_cifar.py --encoder triangle --pooling 2 --no-mirror --flip --tta
    python benchmarks/kmeans_cifar.py --n-train 5000 --n-centroids 400 --n-patches 100000
    python benchmarks/kmeans_cifar.py --features-cache feats.npz --learning-rate 0.01,0.02

Comma-separated classifier settings are tried as a grid on the same features;
``--features-cache`` keeps the encoded features between runs (a few GB for the full set).
"""
import argparse
import itertools
import json
import os
import resource
import subprocess
import sys
import time

import numpy as np


def _floats(text):
    return [float(v) for v in text.split(",")]


def _ints(text):
    return [int(v) for v in text.split(",")]


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", default="../shared/data/cifar10-dev/cifar-10-batches-py")
    p.add_argument("--n-train", type=int, default=None, help="first N training images")
    p.add_argument("--n-val", type=int, default=None, help="first N validation images")
    from fastsoftmax._shared.presets import KMEANS_CLASSIFIER, KMEANS_FEATURES as F

    p.add_argument("--n-centroids", type=int, default=F["n_centroids"])
    p.add_argument("--n-patches", type=int, default=F["n_patches"])
    p.add_argument("--max-iter", type=int, default=F["max_iter"])
    p.add_argument("--stride", type=int, default=F["stride"])
    p.add_argument("--patch-size", type=int, default=F["patch_size"])
    p.add_argument("--whiten-eps", type=float, default=F["whiten_eps"],
                   help="ZCA regularization (the paper's 0.1)")
    p.add_argument("--encoder", default=F["encoder"], choices=["soft-threshold", "triangle"])
    p.add_argument("--threshold", type=float, default=F["threshold"])
    p.add_argument("--pooling", type=int, default=F["pooling"])
    p.add_argument("--power", type=float, default=F["power"])
    p.add_argument("--mirror", action=argparse.BooleanOptionalAction, default=F["mirror"],
                   help="features that are the same for an image and its mirror image")
    p.add_argument("--flip", action="store_true",
                   help="add horizontally flipped copies of the training images")
    p.add_argument("--tta", action="store_true",
                   help="also classify the flipped validation images; average the probabilities")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch-size", type=_ints, default=[KMEANS_CLASSIFIER["batch_size"]])
    p.add_argument("--learning-rate", type=_floats, default=[KMEANS_CLASSIFIER["learning_rate"]])
    p.add_argument("--alpha", type=_floats, default=[KMEANS_CLASSIFIER["alpha"]])
    p.add_argument("--epochs", type=_ints, default=[KMEANS_CLASSIFIER["epochs"]])
    p.add_argument("--momentum", type=_floats, default=[0.9])
    p.add_argument("--features-cache", default=None,
                   help="npz file: the dictionary and encoded features are loaded from it "
                        "(what is missing is encoded and the file rewritten)")
    p.add_argument("--json", default=None, help="write the results to this file")
    return p.parse_args(argv)


def _peak_rss_gb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def _uptime():
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    except OSError:
        return os.getloadavg()


def main(argv=None):
    args = parse_args(argv)
    from fastsoftmax import SoftmaxClassifier
    from fastsoftmax.model.scaling import FeatureScaler
    from fastsoftmax.data import load_cifar10
    from fastsoftmax.features import KMeansFeatures

    result = {"args": vars(args), "uptime_start": _uptime(), "stages": {}}
    stages = result["stages"]

    def stage(name, start):
        stages[name] = round(time.perf_counter() - start, 2)
        print(f"{name:>22}: {stages[name]:8.2f} s   (peak RSS {_peak_rss_gb():.2f} GB)", flush=True)

    t = time.perf_counter()
    (x_train, y_train), (x_val, y_val) = load_cifar10(args.data)
    x_train, y_train = x_train[:args.n_train], y_train[:args.n_train]
    x_val, y_val = x_val[:args.n_val], y_val[:args.n_val]
    stage("load", t)

    model = KMeansFeatures(patch_size=args.patch_size, n_centroids=args.n_centroids,
                           stride=args.stride, n_patches=args.n_patches,
                           max_iter=args.max_iter, whiten_eps=args.whiten_eps,
                           encoder=args.encoder, threshold=args.threshold, pooling=args.pooling,
                           power=args.power, mirror=args.mirror, random_state=args.seed)
    cached = {}
    if args.features_cache and os.path.exists(args.features_cache):
        t = time.perf_counter()
        with np.load(args.features_cache, allow_pickle=False) as npz:
            cached = {name: npz[name] for name in npz.files}
        stage("load cached features", t)
        model = KMeansFeatures.from_arrays(json.loads(cached.pop("model_meta").tobytes()),
                                           {k[6:]: cached.pop(k) for k in list(cached)
                                            if k.startswith("model_")})
    else:
        t = time.perf_counter()
        model.fit(x_train)
        stage("dictionary (fit)", t)
    result["kmeans_n_iter"] = model.n_iter_
    result["kmeans_inertia"] = model.inertia_
    wanted = {"train": x_train, "val": x_val}
    if args.flip:
        wanted["train_flip"] = x_train[:, :, ::-1]
    if args.tta:
        wanted["val_flip"] = x_val[:, :, ::-1]
    encoded = 0
    t_encode = 0.0
    for name, images in wanted.items():
        if name not in cached:
            t = time.perf_counter()
            cached[name] = model.transform(images)
            stage(f"encode {name}", t)
            encoded += len(images)
            t_encode += stages[f"encode {name}"]
    if encoded:
        positions = ((32 - args.patch_size) // args.stride + 1) ** 2
        dim = args.patch_size ** 2 * 3
        flops = 2.0 * encoded * positions * dim * args.n_centroids  # the dictionary products
        result["encoder_gflops"] = round(flops / t_encode / 1e9, 1)
        print(f"{'encoder':>22}: {result['encoder_gflops']} GFLOP/s ({encoded} images)",
              flush=True)
        if args.features_cache:
            meta, arrays = model.to_arrays()
            np.savez(args.features_cache, **cached, **{f"model_{k}": v for k, v in arrays.items()},
                     model_meta=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8))
    f_train, f_val = cached["train"], cached["val"]
    if args.flip:
        f_train = np.concatenate([f_train, cached["train_flip"]])
        y_train = np.concatenate([y_train, y_train])
    f_val_flip = cached.get("val_flip") if args.tta else None
    del cached

    t = time.perf_counter()
    scaler = FeatureScaler().fit(f_train)
    f_train = scaler.transform(f_train, copy=False)
    f_val = scaler.transform(f_val, copy=False)
    if f_val_flip is not None:
        f_val_flip = scaler.transform(f_val_flip, copy=False)
    stage("standardize", t)

    runs = []
    grid = itertools.product(args.batch_size, args.learning_rate, args.alpha, args.epochs,
                             args.momentum)
    for batch_size, lr, alpha, epochs, momentum in grid:
        t = time.perf_counter()
        clf = SoftmaxClassifier(batch_size=batch_size, learning_rate=lr, alpha=alpha,
                                epochs=epochs, momentum=momentum, random_state=args.seed)
        clf.fit(f_train, y_train)
        train_s = time.perf_counter() - t
        t = time.perf_counter()
        train_acc = float(clf.score(f_train[:10_000], y_train[:10_000]))
        if f_val_flip is None:
            val_acc = float(clf.score(f_val, y_val))
        else:  # test-time flip: mean of the two images' class probabilities
            proba = clf.predict_proba(f_val) + clf.predict_proba(f_val_flip)
            val_acc = float(np.mean(clf.classes_[proba.argmax(axis=1)] == y_val))
        run = {"batch_size": batch_size, "learning_rate": lr, "alpha": alpha, "epochs": epochs,
               "momentum": momentum, "train_s": round(train_s, 2),
               "evaluate_s": round(time.perf_counter() - t, 2),
               "train_accuracy": round(train_acc, 4), "val_accuracy": round(val_acc, 4)}
        runs.append(run)
        print(json.dumps(run), flush=True)
    result["runs"] = runs
    best = max(runs, key=lambda r: r["val_accuracy"])
    result["best"] = best
    stages["train (best)"] = best["train_s"]
    stages["evaluate (best)"] = best["evaluate_s"]
    result["total_s_with_best"] = round(sum(v for k, v in stages.items()), 2)
    result["peak_rss_gb"] = round(_peak_rss_gb(), 2)
    result["uptime_end"] = _uptime()
    print(f"validation accuracy {best['val_accuracy']:.4f} ({len(y_val)} images); "
          f"total {result['total_s_with_best']} s; peak RSS {result['peak_rss_gb']} GB")
    print(result["uptime_start"], "|", result["uptime_end"])
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(result, handle, indent=1)
    return result


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
