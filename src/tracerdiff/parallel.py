"""Parallel work: one engine (dask.distributed) for every independent set of tasks.

Inversion windows within an EM pass, images of a study, studies of a campaign and simulation
ensembles are all lists of independent tasks. :func:`map_tasks` runs such a list:

* in process, one task after another, when ``workers <= 1`` and no scheduler is given (small
  jobs: a cluster's start-up would cost more than it saves);
* on a local ``distributed.LocalCluster`` of ``workers`` single-threaded processes otherwise.
  Its workers are started with the *spawn* method, so this works the same on Linux, macOS and
  Windows (the fork-only pool it replaces ran silently serial on the latter two);
* on an existing cluster when ``scheduler`` is its address (``"tcp://host:8786"``) or a
  ``distributed.Client``: an HPC batch allocation through dask-jobqueue, or a multi-host cluster
  started with ``dask scheduler`` / ``dask worker``.

Tasks must be deterministic functions of their inputs; results are then identical whichever
scheduler runs them (the tests check it). A lost worker's task is retried (``retries``); a task
that fails raises :class:`TaskError` naming the task.

:func:`engine` starts (or connects to) a cluster once for a whole run: inside it, every
:func:`task_runner` / :func:`map_tasks` called without a ``scheduler`` uses that cluster, so a
study run with ``--workers 2`` sends its inversion windows there without threading the client
through every analysis (the pattern of dask's own default client). Work mapped from *inside* a
task (a study of a campaign that inverts an image) runs in the task's process: the cluster's
cores are already busy with the outer tasks, and worker processes cannot start clusters.

Progress: library code reports through plain callbacks (``progress(done, total)`` here, and
``progress(label, done, total)`` for the stages of a run, see :func:`stage`); only the CLI draws.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
from typing import Any, Callable, Iterator, Sequence

from tracerdiff.errors import TracerdiffError


class TaskError(TracerdiffError, RuntimeError):
    """A task of a parallel map failed; the message names the task and the cause."""


#: The client of the enclosing :func:`engine` (None: no ambient cluster).
_ENGINE: contextvars.ContextVar = contextvars.ContextVar("tracerdiff_engine", default=None)

#: ``progress(label, done, total)``: how a run reports its stages (the CLI renders it).
StageProgress = Callable[[str, int, int], None]


def stage(progress: StageProgress | None, label: str, total: int) -> Callable[[], None]:
    """A ``tick()`` callable advancing stage ``label`` of ``total`` steps (no-op without ``progress``).

    The stage is announced at once as ``progress(label, 0, total)``.
    """
    if progress is None:
        return lambda: None
    total = max(int(total), 1)
    progress(label, 0, total)
    done = [0]

    def tick() -> None:
        done[0] += 1
        progress(label, min(done[0], total), total)
    return tick


def in_worker() -> bool:
    """True inside a task running on a dask worker."""
    try:
        from distributed import get_worker
        get_worker()
    except (ImportError, ValueError):
        return False
    return True


#: One threadpoolctl controller per process (its library scan is kept; see single_thread_blas).
_BLAS_CONTROLLERS: dict[int, Any] = {}


def _blas_controller():
    """This process's ``threadpoolctl.ThreadpoolController``, made once (ImportError without it),
    after numpy and scipy.linalg: each brings its own OpenBLAS, and a controller limits only the
    libraries loaded when it was made."""
    pid = os.getpid()  # a forked child scans its own libraries
    controller = _BLAS_CONTROLLERS.get(pid)
    if controller is None:
        import numpy  # noqa: F401
        import scipy.linalg  # noqa: F401
        from threadpoolctl import ThreadpoolController
        controller = _BLAS_CONTROLLERS[pid] = ThreadpoolController()
    return controller


def single_thread_blas():
    """Limit BLAS to one thread (no-op without threadpoolctl).

    Tasks run one per core; a multi-threaded BLAS inside each would oversubscribe the cores
    (measured 4x slower Krylov solves on a shared 2-core machine). The controller's scan of the
    loaded libraries is made once per process: ``threadpool_limits`` rescans on every call
    (0.8 ms each, against 13 us here; entered once per window fit and per tile task).
    """
    try:
        controller = _blas_controller()
    except ImportError:  # pragma: no cover - optional
        return contextlib.nullcontext()
    return controller.limit(limits=1, user_api="blas")


def _call(func: Callable, item: Any) -> Any:
    with single_thread_blas():
        return func(item)


@contextlib.contextmanager
def _client(scheduler, workers: int) -> Iterator[Any]:
    """A distributed Client: the given one, one connected to an address, or a new local cluster."""
    from distributed import Client, LocalCluster

    if scheduler is not None and not isinstance(scheduler, str):
        yield scheduler  # a Client the caller owns: do not close it
        return
    if isinstance(scheduler, str):
        if not scheduler.strip():
            raise TracerdiffError("the scheduler address is empty; give e.g. tcp://host:8786")
        try:
            client = Client(scheduler, timeout="10s")
        except OSError as exc:
            raise TracerdiffError(f"cannot connect to the dask scheduler at {scheduler}: {exc}") from None
        with client:
            yield client
        return
    with _default_allocator(), _short_logs():
        try:
            # Always a free port: distributed reads None as its fixed :8787, which another dask (or
            # a second run) may hold; the scheduler's HTTP server starts even without bokeh.
            cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                   dashboard_address=":0", silence_logs=50)
        except (RuntimeError, OSError) as exc:
            # The usual cause: a script without an ``if __name__ == "__main__":`` guard. Spawned
            # workers re-import the main script, which then tries to start a cluster of its own.
            raise TracerdiffError(
                f"could not start {workers} local worker processes ({exc}). In a script, put the "
                "call under `if __name__ == \"__main__\":` (worker processes re-import the main "
                "script), or pass workers=1 to run in process") from None
        with cluster, Client(cluster) as client:
            yield client


#: What distributed's nanny puts into its workers' environment (and its own, before each spawn).
_DASK_MALLOC_TRIM = ("MALLOC_TRIM_THRESHOLD_", "65536")


@contextlib.contextmanager
def _default_allocator() -> Iterator[None]:
    """Workers started inside keep glibc's default allocator settings.

    distributed's nanny sets ``MALLOC_TRIM_THRESHOLD_=65536`` in its workers, which fixes glibc's
    mmap threshold at 128 KiB: every larger temporary array is then mmap'd and unmapped, and the
    inversion's window fits took 2.2x the CPU of the same fits in process (26.4 s vs 12.0 s). The
    nanny also writes it into the parent's environment, from which later spawns inherit it, so an
    earlier cluster's value is lifted too (while this cluster lives); a user's own value is kept.
    """
    import dask

    name, value = _DASK_MALLOC_TRIM
    inherited = os.environ.get(name)
    if inherited == value:
        del os.environ[name]
    try:
        with dask.config.set({f"distributed.nanny.pre-spawn-environ.{name}": None}):
            yield
    finally:
        if inherited is not None:
            os.environ[name] = inherited


#: Entries of the scheduler's and workers' low-level logs (transitions, events) of a cluster started
#: here; distributed's default is 1000.
LOW_LEVEL_LOG_LENGTH = 100


def _short_logs():
    """A local cluster keeps ``LOW_LEVEL_LOG_LENGTH`` entries of its low-level logs.

    The scheduler runs in this process, and with distributed's 1000 entries its logs held on to
    the inputs of the last ~1000 tasks after they finished. For the inversion's windows (~0.4 MB
    each) that was ~0.4 GB of the main process: 1024 tasks of 0.4 MB in batches of 256, twice,
    kept 0.94 GB resident where 100 entries kept 0.55 GB (0.2 GB of it the results; tracemalloc
    traced the difference to buffers the scheduler read from the client). The logs are for
    debugging the cluster itself; a user's own cluster keeps its own settings.
    """
    import dask

    return dask.config.set({"distributed.admin.low-level-log-length": LOW_LEVEL_LOG_LENGTH})


class TaskRunner:
    """Runs lists of tasks on one engine: in process (``client`` None) or a distributed client.

    Made by :func:`task_runner`, so that an analysis that maps several rounds of tasks (the
    inversion's EM passes) starts its cluster once.
    """

    def __init__(self, client=None, *, retries: int = 2):
        self.client, self.retries = client, retries

    def in_flight(self, per_thread: int) -> int | None:
        """A ``max_in_flight`` for :meth:`map`: ``per_thread`` tasks per worker thread of the cluster
        (None in process, where nothing is in flight)."""
        if self.client is None:
            return None
        return per_thread * max(sum(self.client.nthreads().values()), 1)

    def map(self, func: Callable[[Any], Any], items: Sequence[Any], *, names: Sequence[str] | None = None,
            progress: Callable[[int, int], None] | None = None, max_in_flight: int | None = None) -> list:
        """``[func(item) for item in items]``, in order (see :func:`map_tasks` for the parameters).

        ``max_in_flight`` bounds the tasks submitted but not yet collected (None: all at once).
        Each result is fetched and released from the cluster as it arrives, so with a bound the
        inputs and results held on the workers at any time are those of at most that many tasks
        (the tiles of a large map: memory bounded by the tile, not the image).
        """
        items = list(items)
        names = [f"task {i}" for i in range(len(items))] if names is None else list(names)
        if len(names) != len(items):
            raise ValueError("names must have one entry per item")
        total = len(items)
        if self.client is None or total <= 1:
            out = []
            for i, item in enumerate(items):
                try:
                    out.append(_call(func, item))
                except Exception as exc:  # noqa: BLE001 - re-raised with the task's name
                    raise _task_error(names[i], exc) from exc
                if progress is not None:
                    progress(i + 1, total)
            return out
        if max_in_flight is not None and max_in_flight < 1:
            raise ValueError(f"max_in_flight must be >= 1, got {max_in_flight}")
        from distributed import as_completed

        token = _token()
        pending: dict = {}  # key -> (index, future): submitted, not yet collected
        queue = as_completed()

        def submit(i: int) -> None:
            # items[i] is pickled here: with a bound, only max_in_flight inputs exist at once.
            future = self.client.submit(_call, func, items[i], pure=False, retries=self.retries,
                                        key=f"tracerdiff-{token}-{i}")
            pending[future.key] = (i, future)
            queue.add(future)

        following = iter(range(total))
        for i in following:
            submit(i)
            if max_in_flight is not None and len(pending) >= max_in_flight:
                break
        results: list = [None] * total
        done = 0
        for future in queue:
            i, _ = pending.pop(future.key)
            if future.status == "error":
                exc = future.exception()
                for _, f in pending.values():
                    f.cancel()
                raise _task_error(names[i], exc) from exc
            results[i] = future.result()
            future.release()  # the worker may drop the result now
            done += 1
            if progress is not None:
                progress(done, total)
            nxt = next(following, None)
            if nxt is not None:
                submit(nxt)
        return results


@contextlib.contextmanager
def task_runner(*, scheduler=None, workers: int = 1, retries: int = 2) -> Iterator[TaskRunner]:
    """A :class:`TaskRunner`: in process when ``workers <= 1`` and no scheduler, else on a cluster.

    Parameters
    ----------
    scheduler : str or distributed.Client, optional
        An existing cluster's address (``"tcp://host:8786"``) or a client.
    workers : int
        Processes of the local cluster started when no scheduler is given and ``workers > 1``.
    retries : int
        Re-runs of a task whose worker was lost.
    """
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    if scheduler is None and in_worker():
        yield TaskRunner(None, retries=retries)  # nested work stays in the task's process
        return
    if scheduler is None and _ENGINE.get() is not None:
        yield TaskRunner(_ENGINE.get(), retries=retries)
        return
    if scheduler is None and workers <= 1:
        yield TaskRunner(None, retries=retries)
        return
    with _client(scheduler, workers) as client:
        yield TaskRunner(client, retries=retries)


@contextlib.contextmanager
def engine(*, scheduler=None, workers: int = 1, on_start: Callable[[str | None], None] | None = None
           ) -> Iterator[Any]:
    """Start (or connect to) one cluster for everything mapped inside the ``with`` block.

    Parameters
    ----------
    scheduler : str or distributed.Client, optional
        An existing cluster's address or a client; None starts a local cluster when
        ``workers > 1`` and otherwise runs everything in process.
    workers : int
        Processes of the local cluster.
    on_start : callable, optional
        Called once with the cluster's dashboard link (None without a dashboard) when a cluster
        is used, so that the CLI can print it.

    Yields
    ------
    distributed.Client or None
        None when the work runs in process.
    """
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    if (scheduler is None and workers <= 1) or in_worker():
        yield None
        return
    with _client(scheduler, workers) as client:
        if on_start is not None:
            on_start(dashboard_link(client))
        token = _ENGINE.set(client)
        try:
            yield client
        finally:
            _ENGINE.reset(token)


def dashboard_link(client) -> str | None:
    """The dask dashboard's address of ``client``'s cluster, or None when it has none."""
    try:
        info = client.scheduler_info()
    except Exception:  # noqa: BLE001 - a closed or odd client: no link, never a failure
        return None
    if "dashboard" not in info.get("services", {}):
        return None
    return client.dashboard_link


def map_tasks(func: Callable[[Any], Any], items: Sequence[Any], *, scheduler=None, workers: int = 1,
              names: Sequence[str] | None = None, retries: int = 2,
              progress: Callable[[int, int], None] | None = None) -> list:
    """Apply ``func`` to every item, in order, in process or on a dask.distributed cluster.

    Parameters
    ----------
    func : callable
        A picklable, deterministic function of one item (a module-level function).
    items : sequence
        The task inputs.
    scheduler : str or distributed.Client, optional
        An existing cluster: its address or a client. None runs in process (``workers <= 1``)
        or on a local cluster of ``workers`` processes.
    workers : int
        Processes of the local cluster when no scheduler is given.
    names : sequence of str, optional
        One name per task, used in error messages (default ``"task <i>"``).
    retries : int
        How many times a task is re-run when its worker is lost.
    progress : callable, optional
        Called as ``progress(done, total)`` after each finished task.

    Returns
    -------
    list
        ``[func(item) for item in items]``.
    """
    items = list(items)
    if names is not None and len(names) != len(items):
        raise ValueError("names must have one entry per item")
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    in_process = scheduler is None and len(items) <= 1
    with task_runner(scheduler=scheduler, workers=1 if in_process else workers, retries=retries) as runner:
        return runner.map(func, items, names=names, progress=progress)


def _task_error(name: str, exc: BaseException) -> TaskError:
    """The same message whichever scheduler ran the task; the original is the ``__cause__``."""
    what = str(exc) if isinstance(exc, TracerdiffError) else f"{type(exc).__name__}: {exc}"
    return TaskError(f"{name} failed: {what}")


def _token() -> str:
    import uuid

    return uuid.uuid4().hex[:12]
