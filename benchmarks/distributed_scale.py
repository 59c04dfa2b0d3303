"""Measure the parts of a sweep on a Dask cluster, for extrapolating to many workers.

Not a pytest-benchmark file (it starts its own ``LocalCluster``); run it by hand::

    python benchmarks/distributed_scale.py ../shared/data/cifar10-dev/cifar-10-batches-py

It prints, as medians of a few rounds on a two-worker ``LocalCluster`` on this machine:

- ``scatter``: the features (train/validation/test float32) to one worker, and to every
  worker (``broadcast=True``, what a sweep does);
- ``fit``: seconds per update of one fit at the study's settings (batch 500, L2,
  replacement sampling), and the study's number of updates for these features;
- ``task``: the round trip of a one-update fit (its fixed cost on a worker) and of a
  no-op task (the scheduler's and messaging overhead per task);
- ``row``: pickled size of one result row, and the time to fetch a finished one.
"""
import pickle
import statistics
import sys
import time

import numpy as np


def _median_time(func, rounds=3):
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(data):
    from distributed import Client, LocalCluster, wait

    from fastsoftmax.data import load_dataset
    from fastsoftmax.experiments.distributed import _fit_on_worker
    from fastsoftmax.experiments.runner import run_one
    from fastsoftmax.experiments.study import study_plan
    from fastsoftmax.experiments.sweep import prepare_features

    start = time.perf_counter()
    features = prepare_features(load_dataset(data), val_fraction=0.15, seed=0)
    print(f"features: {time.perf_counter() - start:.1f} s")
    arrays = [features[k] for k in ("X_train", "y_train", "X_val", "y_val", "X_test", "y_test")]
    nbytes = sum(a.nbytes for a in arrays)
    print(f"features: X_train {features['X_train'].shape}, {nbytes / 1e6:.1f} MB in all")

    plan = study_plan(len(features["y_train"]))
    base = {**plan["base"], "learning_rate": 0.01}
    updates = 2000
    run_one(*arrays, {"n_iter": 20}, base)  # compile / load the kernels
    fixed = _median_time(lambda: run_one(*arrays, {"n_iter": 1}, base))
    longer = _median_time(lambda: run_one(*arrays, {"n_iter": 1 + updates}, base))
    per_update = (longer - fixed) / updates
    print(f"fit: {1e3 * per_update:.3f} ms per update here (batch {base['batch_size']}); "
          f"the study's {base['n_iter']} updates: {fixed + per_update * base['n_iter']:.1f} s; "
          f"fixed cost of a fit (checks, copy, scoring): {1e3 * fixed:.0f} ms")

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address="127.0.0.1:0") as cluster, Client(cluster) as client:
        workers = list(client.scheduler_info()["workers"])

        def scatter(broadcast, target=None):
            futures = client.scatter(arrays, broadcast=broadcast, hash=False, workers=target)
            wait(futures)
            client.cancel(futures)

        one = _median_time(lambda: scatter(False, workers[:1]))
        every = _median_time(lambda: scatter(True))
        print(f"scatter: {one:.2f} s to one worker ({nbytes / one / 1e6:.0f} MB/s), "
              f"{every:.2f} s to both (broadcast)")

        data = client.scatter(arrays, broadcast=True, hash=False)
        client.submit(_fit_on_worker, *data, {"n_iter": 1}, base, 0, 2000, pure=False).result()
        n_tasks = 40
        start = time.perf_counter()
        futures = [client.submit(_fit_on_worker, *data, {"n_iter": 1}, base, i, 2000, pure=False)
                   for i in range(n_tasks)]
        wait(futures)
        elapsed = time.perf_counter() - start
        print(f"task: {1e3 * elapsed / n_tasks:.1f} ms per near-empty fit "
              f"({n_tasks} tasks on {len(workers)} workers in {elapsed:.2f} s)")

        start = time.perf_counter()
        futures = [client.submit(len, data[1], key=f"noop-{i}", pure=False) for i in range(200)]
        wait(futures)
        elapsed = time.perf_counter() - start
        print(f"task: {1e3 * elapsed / 200:.1f} ms per no-op task on the scattered data "
              f"(200 tasks: scheduler and messaging only)")

        full = client.submit(_fit_on_worker, *data, {"n_iter": 2000}, base, 0, 2000, pure=False)
        wait(full)
        fetch = _median_time(full.result, rounds=5)
        row = full.result()
        print(f"row: {len(pickle.dumps(row)) / 1e3:.1f} kB pickled (curve of "
              f"{len(row['curve'][1])} points), fetched in {1e3 * fetch:.1f} ms")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    np.seterr(all="ignore")
    main(sys.argv[1])
