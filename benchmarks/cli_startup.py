"""How long the command line takes to answer `--help`, `--version` and a mistyped argument, and the memory it uses,
in this checkout and before its imports were made lazy.

    python benchmarks/cli_startup.py [--before COMMIT] [--runs N]

Each command runs N times (default 5) in a fresh process, `python -m mnist_cnn ARGS`, in this checkout and in a
temporary git worktree of COMMIT (default d12a5a8, the last commit before; removed afterwards). The two trees' runs
alternate, so that both see the same load on a shared machine. Printed and written to
benchmarks/results/cli-startup.{json,md}: the median wall time, the median peak resident memory of the process (its
own, from wait4) and the exit status of each command in each tree, and the median CPU time (user and system), which
the load of other jobs changes least.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parent.parent
RESULTS = REPOSITORY / "benchmarks" / "results"
COMMANDS = {
    "mnist-cnn --help": ["--help"],
    "mnist-cnn train --help": ["train", "--help"],
    "mnist-cnn --version": ["--version"],
    "a typo: train --optimizer adamm": ["train", "--optimizer", "adamm"],
    "a value out of range: train --batch-size 0": ["train", "--batch-size", "0"],
}


def run_once(tree: Path, args: list[str], cwd: Path) -> tuple[float, float, float, int]:
    """Run `python -m mnist_cnn ARGS` with `tree` first on the path; return its wall-clock seconds, CPU seconds (user
    and system: what the load of other jobs changes least), peak MiB and exit status."""
    environment = {**os.environ, "PYTHONPATH": str(tree)}
    environment.pop("MNIST_CNN_DEBUG", None)
    start = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "mnist_cnn", *args],
        cwd=cwd,
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)  # so that Popen does not wait for it again
    cpu_seconds = usage.ru_utime + usage.ru_stime
    return seconds, cpu_seconds, usage.ru_maxrss / 1024, process.returncode  # ru_maxrss: KiB on Linux


def measure(trees: dict[str, Path], runs: int) -> dict:
    """For each command and tree: the median seconds, CPU seconds and peak MiB over `runs` runs, and the exit
    statuses seen."""
    samples = {(name, tree): [] for name in COMMANDS for tree in trees}
    with tempfile.TemporaryDirectory() as cwd:
        for _ in range(runs):
            for name, args in COMMANDS.items():
                for tree, path in trees.items():
                    samples[name, tree].append(run_once(path, args, Path(cwd)))
    results = {}
    for (name, tree), seen in samples.items():
        results.setdefault(name, {})[tree] = {
            "median_s": round(statistics.median(seconds for seconds, _, _, _ in seen), 3),
            "median_cpu_s": round(statistics.median(cpu for _, cpu, _, _ in seen), 3),
            "peak_mib": round(statistics.median(mib for _, _, mib, _ in seen), 1),
            "exit_status": sorted({status for _, _, _, status in seen}),
        }
    return results


def markdown(results: dict, machine: dict) -> str:
    lines = [
        f"`python -m mnist_cnn ARGS`, before (commit {machine['before']}) and after the lazy imports: median of "
        f"{machine['runs']} runs each, alternating, on {machine['cpus']} CPUs shared with other jobs (load average "
        f"{machine['load_average']} at the start); Python {machine['python']}, {machine['date']}.",
        "",
        "| command | wall before | after | CPU before | after | peak memory before | after | exit before | after |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, trees in results.items():
        before, after = trees["before"], trees["after"]
        statuses = [", ".join(map(str, tree["exit_status"])) for tree in (before, after)]
        lines.append(
            f"| {name} | {before['median_s']:.2f} s | {after['median_s']:.2f} s | {before['median_cpu_s']:.2f} s | "
            f"{after['median_cpu_s']:.2f} s | {before['peak_mib']:.0f} MiB | {after['peak_mib']:.0f} MiB | "
            f"{statuses[0]} | {statuses[1]} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", default="d12a5a8", metavar="COMMIT", help="default: %(default)s")
    parser.add_argument("--runs", type=int, default=5, help="runs of each command in each tree (default: 5)")
    args = parser.parse_args()
    load_average = round(os.getloadavg()[0], 1)
    with tempfile.TemporaryDirectory() as scratch:
        before_tree = Path(scratch) / "before"
        git = ["git", "-C", str(REPOSITORY)]
        subprocess.run([*git, "worktree", "add", "--detach", str(before_tree), args.before], check=True)
        try:
            results = measure({"before": before_tree, "after": REPOSITORY}, args.runs)
        finally:
            subprocess.run([*git, "worktree", "remove", "--force", str(before_tree)], check=True)
    machine = {
        "before": args.before,
        "runs": args.runs,
        "cpus": os.cpu_count(),
        "load_average": load_average,
        "python": platform.python_version(),
        "date": time.strftime("%Y-%m-%d"),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "cli-startup.json").write_text(json.dumps({"machine": machine, "results": results}, indent=2) + "\n")
    table = markdown(results, machine)
    (RESULTS / "cli-startup.md").write_text(table)
    print(table)


if __name__ == "__main__":
    main()
