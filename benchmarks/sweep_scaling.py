"""How a sweep scales on Ray workers: the same 24-point sweep locally (1 thread) and on 1 and 2 Ray
workers (1 thread each), with identical rows checked.

Prints wall time, speed-up over the local run, parallel efficiency (speed-up / workers), the Ray
start-up (cluster start and worker construction, :attr:`RayExecutor.startup_s`) and the mean
overhead per point (driver time from submitting a point to holding its rows, minus the worker's
evaluation time). The sweep: DeepJSCC (``cifar10-deepjscc-v1``) and SoftCast on 256 scikit-image
crops at 32x32, 32 trials, 2 bandwidth ratios x 6 SNRs, PSNR, MS-SSIM and LPIPS: about 6 s a
point on one thread, so that the fixed costs (Ray start-up, about 7 s here, and loading the
models in each worker) are paid against a sweep of minutes, as in real use.

    python benchmarks/sweep_scaling.py [--workers 1 2] [--out /tmp/sweep-scaling]

Run it on an otherwise idle machine: the workers compete with anything else for the cores.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from linksim.execution import ExecutionConfig, RayExecutor  # noqa: E402
from linksim.scenario import parse_scenario  # noqa: E402
from linksim.sweep import run_sweep  # noqa: E402

SCENARIO = {
    "name": "sweep-scaling",
    "seed": 3,
    "dataset": {"name": "skimage-samples", "image_size": 32, "num_images": 256},
    "channel": {"type": "awgn"},
    "schemes": [{"name": "softcast", "type": "softcast"},
                {"name": "deepjscc", "type": "deepjscc", "checkpoint": "cifar10-deepjscc-v1"}],
    "sweep": {"snr_db": [-5, 0, 5, 10, 15, 20], "bandwidth_ratio": ["1/12", "1/6"], "roi_weight": [0.0]},
    "monte_carlo": {"trials": 32, "batch_size": 128},
    "metrics": ["psnr", "ms_ssim", "lpips"],
    "output": {"plots": []},
    "device": "cpu",
}


def timed(out: Path, executor: RayExecutor | None) -> tuple[float, pd.DataFrame]:
    scenario = parse_scenario({**SCENARIO, "output": {**SCENARIO["output"], "dir": str(out)}})
    started = time.perf_counter()
    result = run_sweep(scenario, fresh=True, progress=False, executor=executor)
    assert result.computed_points == 24
    return time.perf_counter() - started, result.rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--out", type=Path, default=Path("/tmp/sweep-scaling"))
    args = parser.parse_args()

    torch.set_num_threads(1)
    local_s, reference = timed(args.out / "local", None)
    print("| executor | workers | wall (s) | speed-up | efficiency | Ray start-up (s) | overhead per point (ms) |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    print(f"| local, 1 thread | 1 | {local_s:.1f} | 1.00x | - | - | - |", flush=True)
    for workers in args.workers:
        executor = RayExecutor(ExecutionConfig(executor="ray", workers=workers, threads_per_worker=1))
        wall, rows = timed(args.out / f"ray-{workers}", executor)
        pd.testing.assert_frame_equal(reference, rows)  # identical rows, or the benchmark fails
        overhead = 1000 * sum(executor.overhead_s) / len(executor.overhead_s)
        print(f"| ray | {workers} | {wall:.1f} | {local_s / wall:.2f}x | {local_s / wall / workers:.2f} "
              f"| {executor.startup_s:.1f} | {overhead:.1f} |", flush=True)
    print("\nrows identical to the local run: yes")


if __name__ == "__main__":
    main()
