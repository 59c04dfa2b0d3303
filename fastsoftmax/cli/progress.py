"""Progress on stderr: a tqdm bar per stage in a terminal, a line per stage otherwise.

The library reports through ``progress(stage, done, total, **info)`` callbacks
(:mod:`fastsoftmax._shared.progress`) and never draws; this module is the drawing side.

In a terminal each stage gets its own bar with tqdm's time left (from the rate of
the recent chunks, so a first chunk slowed by compilation does not fix the estimate),
replaced when the stage ends by one line with its seconds.  When stderr is not a
terminal (a log file, CI) no bar is drawn: one line per stage when it ends, and a
line every 30 s during a long stage, with the time left measured from the chunks
after the first.  :func:`sweep_progress` shows a sweep's runs on a :class:`ProgressBar`;
:class:`DownloadProgress` draws a download's bytes.
"""
import contextlib
import sys
import time

from fastsoftmax.cli.output import printable
from fastsoftmax.cli.signals import check_interrupt

#: How stages are shown: stage -> (label, unit); another stage shows under its own name,
#: counted in "steps" (a feature step may report e.g. "dictionary").
STAGES = {
    "load": ("load", None),
    "features": ("features", "images"),
    "dictionary": ("dictionary", "iterations"),
    "second layer": ("second layer", "iterations"),
    "mirrored features": ("mirrored features", "images"),
    "validation features": ("validation features", "images"),
    "test features": ("test features", "images"),
    "pca": ("PCA", None),
    "train": ("training", "updates"),
    "evaluate": ("evaluation", "images"),
}

#: Seconds between progress lines of one stage when stderr is not a terminal.
LOG_INTERVAL = 30.0


def compile_count():
    """Kernel compiles so far in this process
    (:func:`fastsoftmax._shared.jit.compile_count`); 0 while no kernel module is loaded."""
    # read from sys.modules rather than imported: importing it loads Numba, which
    # --help does not need, and nothing compiles before something else imported it
    jit = sys.modules.get("fastsoftmax._shared.jit")
    return jit.compile_count() if jit is not None else 0


def _count(n):
    return f"{n:,}"


def write_line(text, stream=None):
    """Write one line on stderr without breaking a progress bar drawn there (tqdm's
    bars are cleared, the line written, the bars drawn again); ``text`` goes through
    :func:`~fastsoftmax.cli.output.printable` (a line break in it is written ``\\n``)."""
    stream = stream or sys.stderr
    text = printable(text)
    if "tqdm" in sys.modules:
        from tqdm import tqdm

        with tqdm.external_write_mode(file=stream):
            stream.write(text + "\n")
            stream.flush()
    else:
        stream.write(text + "\n")
        stream.flush()


class _Stage:
    """One stage on ``stream``: a tqdm bar (terminal) or progress lines (otherwise)."""

    def __init__(self, label, unit, total, stream):
        self.label, self.unit, self.total, self.stream = label, unit, total, stream
        self.done = 0
        self.info = {}
        self._compiles = compile_count()
        self.start = time.perf_counter()
        self._first = None  # (time, done) of the first update after the start
        self._end = self.start  # time of the last update
        self._last_line = self.start
        self._bar = None
        self._tty = stream.isatty()
        if self._tty:
            self._open_bar(0)

    def _open_bar(self, initial):
        from tqdm import tqdm

        if self._bar is not None:
            self._bar.close()
        # a stage of one step (or whose total is not known yet) has no count to show
        fmt = ("{desc}: {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} " + self.unit
               + " [{remaining} left{postfix}]") if self.unit and self.total > 1 else "{desc} ..."
        self._bar = tqdm(total=max(self.total, 1), initial=initial, desc=self.label,
                         file=self.stream, leave=False, dynamic_ncols=True, mininterval=0.1,
                         smoothing=0.1, bar_format=fmt)

    def postfix(self, text):
        """Show ``text`` beside the bar (a terminal only)."""
        if self._bar is not None:
            self._bar.set_postfix_str(text, refresh=False)

    def update(self, done, total, info):
        now = time.perf_counter()
        self.info.update(info)
        if total != self.total:
            counted = self.total > 1
            self.total = total
            if self._bar is not None:
                if counted or total <= 1:
                    self._bar.total = max(total, 1)
                else:
                    self._open_bar(self._bar.n)
        self._end = now
        if self._first is None and done > 0:
            self._first = (now, done)
            if self._bar is not None and done < total:
                # The time left comes from the work after the first chunk only: the
                # first one may include compiling the kernels (seconds, not the rate).
                self._open_bar(done)
        if self._bar is not None:
            if "loss" in info:
                self.postfix(f"loss {info['loss']:.4f}")
            self._bar.update(done - self._bar.n)
        elif self.unit and now - self._last_line >= LOG_INTERVAL and done < total:
            self._last_line = now
            self.stream.write(printable(f"{self.label}: {_count(done)}/{_count(total)} "
                                        f"{self.unit}, {now - self.start:.0f} s"
                                        f"{self._left(now, done)}") + "\n")
            self.stream.flush()
        self.done = done

    def _left(self, now, done):
        if self._first is None or done <= self._first[1]:
            return ""
        rate = (done - self._first[1]) / max(now - self._first[0], 1e-9)
        return f", about {(self.total - done) / rate:.0f} s left"

    def _first_chunk_excess(self):
        """Seconds the first chunk took beyond the rate of the others: the first call of
        a Numba kernel compiles it (or loads it from its cache), once per process."""
        if self._first is None or self.done <= self._first[1]:
            return 0.0
        first_time, first_done = self._first
        rate = (self.done - first_done) / max(self._end - first_time, 1e-9)
        return (first_time - self.start) - first_done / rate

    def finish(self, line=True):
        """Close the bar; with ``line``, write the stage's line; return its seconds."""
        seconds = time.perf_counter() - self.start
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        if line:
            what = f"{_count(self.done)} {self.unit} in " if self.unit and self.done else ""
            notes = []
            if self.info.get("cached"):
                notes.append("from the cache")
            # the final loss as train's --json and the sweeps define it; "loss" (the
            # last chunk's mean) only from a reporter that does not send it
            loss = self.info.get("final_loss", self.info.get("loss"))
            if loss is not None:
                notes.append(f"final loss {loss:.4f}")
            # the first chunk's excess is compiling only when a kernel compiled (loading
            # one from the cache, or anything else slow, is not)
            compiling = self._first_chunk_excess() if compile_count() > self._compiles else 0.0
            if compiling >= 1.0:
                notes.append(f"about {compiling:.0f} s of it compiling")
            if "note" in self.info:
                notes.append(str(self.info["note"]))
            note = f" ({'; '.join(notes)})" if notes else ""
            self.stream.write(printable(f"{self.label}: {what}{seconds:.2f} s{note}") + "\n")
            self.stream.flush()
        return seconds


class StageProgress:
    """A ``progress(stage, done, total, **info)`` callback that shows every stage on stderr.

    A call naming a new stage ends the previous one; :meth:`close` ends the last.
    :meth:`stage` wraps work the command does itself (loading, evaluating).  With
    ``quiet`` nothing is shown.

    Attributes
    ----------
    seconds : dict
        Seconds of each stage shown, as measured here (stage -> seconds).
    """

    def __init__(self, quiet=False, stream=None):
        self.quiet = quiet
        self.stream = stream
        self.seconds = {}
        self._name = None
        self._stage = None

    def __call__(self, stage, done, total, **info):
        if self.quiet:
            return
        if stage != self._name:
            self._end()
            label, unit = STAGES.get(stage, (stage, "steps"))
            self._name = stage
            self._stage = _Stage(label, unit, total, self.stream or sys.stderr)
        self._stage.update(done, total, info)

    def _end(self, line=True):
        if self._stage is not None:
            self.seconds[self._name] = self._stage.finish(line)
        self._name = self._stage = None

    @contextlib.contextmanager
    def stage(self, name, total=1):
        """Show ``name`` while the block runs; yield a callback that reports under it.

        The library's calls through the yielded callback move this stage's bar
        whatever stage they name (the features of the test images during
        ``"evaluate"``).  The stage's line is written when the block ends; a block
        that raises leaves no line.
        """
        self(name, 0, total)

        def forward(_stage, done, total, **info):
            self(name, done, total, **info)

        try:
            yield forward
        except BaseException:
            self._end(line=False)
            raise
        self._end()

    def close(self):
        """End the current stage (its line is written)."""
        self._end()

    def __enter__(self):
        return self

    def __exit__(self, exc_type, *exc):
        self._end(line=exc_type is None)


class ProgressBar:
    """One bar (e.g. a sweep's runs) on stderr that respects ``--quiet``; a line with its
    seconds when it closes, and progress lines instead of a bar when stderr is not a
    terminal.  Moved by a library callback through :meth:`update`."""

    def __init__(self, total, label, quiet=False, unit="runs"):
        self.total = total
        self.quiet = quiet
        self._stage = None if quiet else _Stage(label, unit, total, sys.stderr)

    def set_total(self, total):
        """Change the length of the bar (e.g. once the library knows the total)."""
        self.total = total
        if self._stage is not None:
            self._stage.update(self._stage.done, total, {})

    def update(self, done, info=None):
        """Move to ``done`` of ``total``; ``info`` is shown beside the bar (e.g. the
        last run's accuracy)."""
        if self._stage is not None:
            if info:
                self._stage.postfix(str(info))
            self._stage.update(done, self.total, {})

    def close(self):
        if self._stage is not None:
            self._stage.finish()
            self._stage = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def sweep_progress(bar):
    """A ``progress(stage, done, total, **info)`` callable for ``run_sweep`` (and the
    study's sweeps) that moves ``bar`` to the total the library gives and shows the
    last run's validation accuracy (its ``row=``); the stage's name is not shown.
    A Ctrl-C that something swallowed stops the sweep here."""
    def progress(_stage, done, total, row=None, **_info):
        check_interrupt()
        if total != bar.total:
            bar.set_total(total)
        info = None
        if row is not None:
            info = ("diverged" if row["diverged"] else "failed" if row.get("error")
                    else f"val {row['val_accuracy']:.3f}")
        bar.update(done, info)
    return progress


class DownloadProgress:
    """A ``progress(bytes_done, bytes_total)`` callback that draws a tqdm bar on stderr.

    The bar shows bytes done and expected, the rate and the time left; nothing is drawn
    with ``quiet``.  ``called`` says whether a download started at all.
    """

    def __init__(self, quiet, label="Downloading CIFAR-10"):
        self.quiet = quiet
        self.label = label
        self.called = False
        self._bar = None

    def __call__(self, done, total):
        self.called = True
        if self.quiet:
            return
        if self._bar is None:
            from tqdm import tqdm

            stream = sys.stderr
            fmt = ("{l_bar}{bar}| {n_fmt}B/{total_fmt}B [{elapsed}<{remaining}, {rate_fmt}]"
                   if total else "{desc}: {n_fmt}B [{elapsed}, {rate_fmt}]")
            self._bar = tqdm(total=total, desc=self.label, unit="B", unit_scale=True,
                             file=stream, bar_format=fmt, dynamic_ncols=True,
                             # a log file gets a line every few seconds, not a stream of \r
                             mininterval=0.2 if stream.isatty() else 5.0)
        self._bar.update(done - self._bar.n)

    def close(self):
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
