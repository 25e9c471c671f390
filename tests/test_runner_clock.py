"""The run's stage clock counts the CPU time of the executor's live workers (read from /proc)."""

import multiprocessing
import os
import time

import pytest

from pipeline.runner import _Clock

pytestmark = pytest.mark.skipif(not os.path.exists("/proc/self/stat"), reason="needs /proc")


def _burn(seconds: float) -> int:
    start = time.process_time()
    while time.process_time() - start < seconds:
        pass
    return 1


def test_stage_counts_live_workers_cpu_and_close_releases_files() -> None:
    clock = _Clock()
    pool = multiprocessing.get_context("fork").Pool(2)
    try:
        pool.map(abs, [1, 2])  # started, idle
        with clock.stage("work"):
            pool.map(_burn, [0.3, 0.3], chunksize=1)
        with clock.stage("work"):  # accumulated, read again through the same open files
            pool.map(_burn, [0.3, 0.3], chunksize=1)
        assert len(clock._stat_files) == 2
    finally:
        pool.close()
        pool.join()
    assert clock.cpu["work"] >= 0.9  # four burns of 0.3 s on the workers; this process only waited
    assert clock._live_children_cpu() == 0  # the workers ended: nothing left to read, their files closed
    assert clock._stat_files == {}
    clock.close()
