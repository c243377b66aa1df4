"""Wall time of ``linksim validate`` per scenario: a fresh interpreter each run, as a user sees it.

Validation imports only the torch-free config layer (``tests/test_light_config.py`` checks which
modules it loads); this measures what that buys. Each scenario is validated ``--reps`` times and
the best wall time is reported, with the heavy modules the run imported (none expected).

    python benchmarks/validate.py [--reps 3] [scenarios/kodak-awgn.yaml ...]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "sionna", "diffusers", "pandas", "cv2", "pillow_heif")
# the CLI's entry point in a fresh interpreter, then the heavy modules it loaded
PROBE = ("import sys; from linksim.cli import main; code = main(['validate', sys.argv[1]]); "
         f"print(','.join(m for m in {HEAVY!r} if m in sys.modules) or '-', file=sys.stderr); sys.exit(code)")


def time_validate(path: str, reps: int) -> tuple[float, int, str]:
    """Best wall seconds of ``reps`` runs, the exit code and the heavy modules imported."""
    best, code, heavy = float("inf"), 0, ""
    for _ in range(reps):
        start = time.perf_counter()
        done = subprocess.run([sys.executable, "-c", PROBE, path], cwd=ROOT, capture_output=True, text=True)
        best = min(best, time.perf_counter() - start)
        code, heavy = done.returncode, done.stderr.strip().splitlines()[-1]
    return best, code, heavy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("scenarios", nargs="*", help="scenario files (default: every scenarios/*.yaml)")
    parser.add_argument("--reps", type=int, default=3, help="runs per scenario; the best is reported")
    args = parser.parse_args()
    paths = args.scenarios or sorted(str(p.relative_to(ROOT)) for p in (ROOT / "scenarios").glob("*.yaml"))
    print(f"{'scenario':<42} {'best s':>7}  exit  heavy modules imported")
    for path in paths:
        seconds, code, heavy = time_validate(path, args.reps)
        print(f"{path:<42} {seconds:7.2f}  {code:4d}  {heavy}")


if __name__ == "__main__":
    main()
