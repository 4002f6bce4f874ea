"""Shared by the memory and scale benchmarks: run one command in a child and measure it, and write
the mirrored mosaics both benchmarks analyse (one simulated 512 x 512 exchange tiled by mirroring)."""

from __future__ import annotations

import os
import subprocess
import tempfile
import threading
import time
from pathlib import Path


def tree_rss(root: int) -> int:
    """Resident bytes of ``root`` and all its descendants (Linux /proc)."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid = int(name)
        children.setdefault(int(fields[1]), []).append(pid)
        rss[pid] = int(fields[21]) * os.sysconf("SC_PAGE_SIZE")
    total, stack = 0, [root]
    while stack:
        pid = stack.pop()
        total += rss.get(pid, 0)
        stack += children.get(pid, [])
    return total


def run_child(cmd: list[str]) -> dict:
    """Wall time, exact peak of one process, sampled peak of the tree, stdout and return code."""
    t0 = time.perf_counter()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(cmd, stdout=out, stderr=err)
        tree = [0]
        stop = threading.Event()

        def sample():
            while not stop.wait(0.1):
                tree[0] = max(tree[0], tree_rss(proc.pid))
        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        _, status, usage = os.wait4(proc.pid, 0)
        stop.set()
        sampler.join()
        wall = time.perf_counter() - t0
        rc = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        text = out.read().decode() + ("" if rc == 0 else err.read().decode())
    return {"wall": wall, "cpu": usage.ru_utime + usage.ru_stime, "peak": usage.ru_maxrss * 1024.0,
            "tree": float(tree[0]), "text": text, "rc": rc}


def make_mirrored_images(folder: str, sizes: list[int]) -> None:
    """(In a child process) simulate 512 x 512 once and write mirrored tilings for every size."""
    import numpy as np
    import tifffile

    from tracerdiff.simulate import synthetic_exchange_image

    ds, _ = synthetic_exchange_image(shape=(512, 512), seed=1, n_steps=20)
    for c in ("6Li", "7Li"):
        a = np.asarray(ds[c].values, dtype=np.uint32)
        for n in sizes:
            k = n // 512
            rows = np.concatenate([a if j % 2 == 0 else a[:, ::-1] for j in range(k)], axis=1)
            tifffile.imwrite(Path(folder) / f"{c}_{n}.tif",
                             np.concatenate([rows if i % 2 == 0 else rows[::-1] for i in range(k)], axis=0))
