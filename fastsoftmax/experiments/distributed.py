"""Sweeps on an existing Dask cluster, through ``dask.distributed``.

The features are sent to the workers once (:meth:`Cluster.scatter_features`, to every
worker, so a worker that dies does not take the only copy with it); each fit is one
future; rows arrive as the futures finish.  Each fit is
:func:`~fastsoftmax.experiments.runner.run_one`, as in a local sweep; a fit that raises
on a worker becomes a row with its error
(:func:`~fastsoftmax.experiments.runner.failed_row`); a fit whose worker dies is re-run
elsewhere by the scheduler.  ``distributed`` is imported only here, and only when a
cluster is used (it is the optional extra ``fastsoftmax[distributed]``).

Example
-------
>>> with connect("tcp://127.0.0.1:8786") as cluster:          # doctest: +SKIP
...     rows = run_sweep(X_train, ..., grid, scheduler=cluster)
"""
import asyncio
import socket
import threading
import uuid
from importlib.metadata import version

import numba

from fastsoftmax._shared.progress import report
from fastsoftmax._shared.version import UNKNOWN_VERSION, __version__
from fastsoftmax.experiments.runner import MAX_CURVE_POINTS, failed_row, merge_params, run_one

#: Seconds to wait for the scheduler before giving up (nothing has been computed then).
CONNECT_TIMEOUT = 5.0

#: What to install when ``distributed`` is missing.
INSTALL_HINT = 'pip install "fastsoftmax[distributed]"'


def _import_distributed():
    try:
        import distributed  # the optional extra: imported only when a cluster is used
    except ImportError as exc:
        raise ImportError(f"--scheduler needs Dask's distributed package, which cannot be "
                          f"imported ({exc}); install it with: {INSTALL_HINT}",
                          name="distributed") from None
    return distributed


def check_address(address):
    """Return ``address`` stripped; ``tcp://HOST:PORT``, ``tls://...`` or ``HOST:PORT``.

    Raises
    ------
    ValueError
        No port, or a scheme other than ``tcp``, ``tls``, ``ws``, ``wss``, ``inproc``, ``ucx``.
    """
    text = str(address).strip()
    scheme, sep, rest = text.rpartition("://")
    if sep and scheme not in ("tcp", "tls", "ws", "wss", "inproc", "ucx"):
        raise ValueError(f"scheduler address {text!r}: unknown protocol {scheme!r} "
                         "(write tcp://HOST:PORT)")
    host, colon, port = (rest if sep else text).rpartition(":")
    if scheme != "inproc" and not (colon and host and port.isdigit()):
        raise ValueError(f"scheduler address {text!r}: write tcp://HOST:PORT (e.g. tcp://10.0.0.5:8786)")
    return text


class Cluster:
    """A connection to a Dask scheduler that runs sweep fits (see :func:`connect`).

    Attributes
    ----------
    address : str
    client : distributed.Client
    """

    def __init__(self, client, address):
        self.client = client
        self.address = address
        self._arrays = None
        self._scattered = None

    def scatter_features(self, arrays):
        """Send ``arrays`` to every worker once; the same arrays again reuse the first copies.

        Returns
        -------
        list of distributed.Future
        """
        arrays = tuple(arrays)
        if self._arrays is not None and len(arrays) == len(self._arrays) \
                and all(a is b for a, b in zip(arrays, self._arrays)):
            return self._scattered
        if self._scattered is not None:
            self.client.cancel(self._scattered)
        # broadcast: every worker holds a copy, so a dead worker's fits can re-run anywhere.
        self._scattered = self.client.scatter(list(arrays), broadcast=True, hash=False)
        self._arrays = arrays
        return self._scattered

    def run(self, arrays, tasks, base_params=None, max_curve_points=MAX_CURVE_POINTS, progress=None):
        """Fit ``tasks`` (``(config, seed)`` pairs) on the cluster; rows in task order.

        Parameters
        ----------
        arrays : sequence of ndarray
            ``X_train, y_train, X_val, y_val, X_test, y_test``.
        tasks : list of (dict, int)
        base_params : dict, optional
        max_curve_points : int
        progress : callable, optional
            ``progress("sweep", done, total, row=row)`` as each fit finishes (completion
            order); ``row["run"]`` is its place in ``tasks``.

        Returns
        -------
        list of dict
            One row per task (see :func:`~fastsoftmax.experiments.runner.run_one`); a fit
            that raised on a worker is a :func:`~fastsoftmax.experiments.runner.failed_row`.

        Raises
        ------
        ConnectionError
            The cluster cancelled the fits (e.g. the scheduler went away); nothing is returned.
        """
        distributed = _import_distributed()
        data = self.scatter_features(arrays)
        prefix = f"fastsoftmax-fit-{uuid.uuid4().hex[:12]}"
        futures = [self.client.submit(_fit_on_worker, *data, config, base_params, seed,
                                      max_curve_points, key=f"{prefix}-{i}", pure=False)
                   for i, (config, seed) in enumerate(tasks)]
        place = {future.key: i for i, future in enumerate(futures)}
        rows = [None] * len(tasks)
        try:
            for done, future in enumerate(distributed.as_completed(futures, loop=self.client.loop), start=1):
                i = place[future.key]
                if future.status == "finished":
                    row = future.result()
                elif future.status == "error":
                    config, seed = tasks[i]
                    row = failed_row(config, seed, merge_params(base_params, config),
                                     future.exception())
                else:
                    raise ConnectionError(f"the Dask cluster at {self.address} dropped the "
                                          f"sweep's fits ({future.status}); no results written")
                future.release()
                row["run"] = i
                rows[i] = row
                report(progress, "sweep", done, len(tasks), row=row)
        finally:
            self.client.cancel([f for f in futures if not f.done()])
        return rows

    def close(self):
        """Release the scattered features and close the connection (the cluster stays up)."""
        if self._scattered is not None:
            self.client.cancel(self._scattered)
            self._scattered = self._arrays = None
        self.client.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def connect(address, timeout=CONNECT_TIMEOUT):
    """Connect to a running Dask scheduler, before any work.

    Parameters
    ----------
    address : str
        ``tcp://HOST:PORT`` (what ``dask scheduler`` prints).
    timeout : float, default=CONNECT_TIMEOUT
        Seconds to wait for the scheduler.

    Returns
    -------
    Cluster

    Raises
    ------
    ImportError
        ``distributed`` is not installed (the message says what to install).
    ValueError
        A malformed address.
    ConnectionError
        Nobody answers at ``address`` within ``timeout``, the cluster has no workers, or
        a worker has no (or another version of) fastsoftmax.
    """
    address = check_address(address)
    distributed = _import_distributed()
    try:
        _probe(address, timeout)
    except _NotAScheduler as exc:
        raise ConnectionError(str(exc)) from None
    except OSError as exc:
        reason = exc.strerror or str(exc) or type(exc).__name__
        raise ConnectionError(f"cannot reach the Dask scheduler at {address} within "
                              f"{timeout:g} s ({reason}); start it with `dask scheduler` "
                              "or check the address") from None
    except Exception as exc:  # something answered, but not in Dask's protocol
        raise ConnectionError(f"no Dask scheduler answers at {address} "
                              f"({type(exc).__name__}); check the address") from None
    client = distributed.Client(address, timeout=timeout, set_as_default=False)
    try:
        check_workers(client, address)
    except BaseException:
        client.close()
        raise
    return Cluster(client, address)


def _probe(address, timeout):
    """Ask ``address`` who it is, within ``timeout``; raise unless it is a Dask scheduler.

    A refused connection fails at once (Dask's own connect retries until its timeout),
    and a server that is not Dask's fails here rather than inside ``Client``.
    """
    from distributed.core import rpc  # the optional extra: imported only when a cluster is used

    scheme, sep, rest = address.rpartition("://")
    if not sep or scheme == "tcp":
        host, _, port = (rest if sep else address).rpartition(":")
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout):
            pass

    async def identity():
        async with rpc(address, timeout=timeout) as remote:
            return await asyncio.wait_for(remote.identity(), timeout)

    result = {}

    def ask():  # in a thread of its own: the caller may be inside an event loop (Jupyter)
        try:
            result["info"] = asyncio.run(identity())
        except BaseException as exc:
            result["error"] = exc

    thread = threading.Thread(target=ask, daemon=True)
    thread.start()
    thread.join(timeout + 1.0)
    if thread.is_alive():
        raise TimeoutError(f"no answer within {timeout:g} s")
    if "error" in result:
        error = result["error"]
        raise error if isinstance(error, Exception) else RuntimeError(repr(error))
    kind = result["info"].get("type") if isinstance(result["info"], dict) else None
    if kind != "Scheduler":
        raise _NotAScheduler(f"{address} is a Dask {(kind or 'service').lower()}, not a scheduler "
                             "(give the address `dask scheduler` prints)")


class _NotAScheduler(Exception):
    pass


def check_workers(client, address):
    """Raise ``ConnectionError`` unless the cluster has workers with our fastsoftmax version
    (the installed one, as each worker reports its own)."""
    ours = None if __version__ == UNKNOWN_VERSION else __version__  # never installed: no match
    workers = client.scheduler_info().get("workers", {})
    if not workers:
        raise ConnectionError(f"the Dask scheduler at {address} has no workers; start some "
                              f"with `dask worker {address}`")
    found = client.run(version, "fastsoftmax", on_error="return")
    wrong = {w: v for w, v in found.items() if v != ours}
    if wrong:
        worker, value = next(iter(wrong.items()))
        have = f"fastsoftmax {value}" if isinstance(value, str) else "no fastsoftmax"
        this = f"this is {ours}" if ours else "this copy is not installed"
        raise ConnectionError(f"Dask worker {worker} has {have} ({this}); "
                              f"install the same version on every worker: {INSTALL_HINT}")


def _fit_on_worker(X_train, y_train, X_val, y_val, X_test, y_test, config, base_params, seed,
                   max_curve_points):
    """One fit on a Dask worker; the Numba threads are shared by the worker's task threads."""
    from distributed import get_worker  # the optional extra, present on a worker

    numba.set_num_threads(max(1, numba.config.NUMBA_NUM_THREADS // get_worker().state.nthreads))
    return run_one(X_train, y_train, X_val, y_val, X_test, y_test, config, base_params, seed,
                   max_curve_points)


def run_on_cluster(scheduler, arrays, tasks, base_params=None, max_curve_points=MAX_CURVE_POINTS,
                   progress=None):
    """:meth:`Cluster.run` on ``scheduler``: a :class:`Cluster`, or an address to connect to."""
    if isinstance(scheduler, Cluster):
        return scheduler.run(arrays, tasks, base_params, max_curve_points, progress)
    with connect(scheduler) as cluster:
        return cluster.run(arrays, tasks, base_params, max_curve_points, progress)
