"""The GPU benchmark: every runner on the JAX and PyTorch backends, in fresh processes, cold and warm.

    python benchmarks/gpu/run.py --data benchmarks/gpu/data [--quick] [--output DIR]

On the GPU machine, `bash benchmarks/gpu/run.sh` installs the wheels carried in .whl/ and calls this (see the README,
"On a GPU"). Each runner is measured by benchmarks/gpu/measure.py in a process of its own: cold (a fresh compilation
cache) and, for the Keras runners, warm (a second process, JAX's persistent compilation cache and PyTorch's Inductor
cache filled by the first). Results go to benchmarks/results/gpu-CARD.json and .md (and to --output), and the Markdown
is printed. `--quick` runs every runner for a few steps on the shipped sample: the check that the script works, on
a CPU.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).parent
RESULTS = HERE.parent / "results"
# (backend, runner, measured warm too)
RUNS = (
    ("jax", "seed-code", True),
    ("jax", "package-seed", True),
    ("jax", "package-fast", True),
    ("jax", "package-gpu", True),
    ("torch", "package-fast", False),
    ("torch", "package-gpu", False),
    ("torch", "torch-peer", False),
    ("torch", "torch-compiled", True),
)


def card() -> str:
    """The GPU's name, or "cpu"."""
    try:
        names = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"], capture_output=True,
                               text=True, timeout=30).stdout.split("\n")  # fmt: skip
        return names[0].strip() or "cpu"
    except (OSError, subprocess.SubprocessError):
        return "cpu"


def measure(backend: str, runner: str, args: argparse.Namespace, cache: Path) -> dict:
    command = [sys.executable, str(HERE / "measure.py"), runner]
    command += ["--quick"] if args.quick else ["--data", args.data]
    environment = {
        **os.environ,
        "KERAS_BACKEND": backend,
        "JAX_COMPILATION_CACHE_DIR": str(cache / "jax"),
        "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
        "TORCHINDUCTOR_CACHE_DIR": str(cache / "inductor"),
        "SETUPTOOLS_USE_DISTUTILS": "stdlib",  # Inductor builds C++ helpers through distutils
    }
    started = time.perf_counter()
    finished = subprocess.run(command, capture_output=True, text=True, env=environment, timeout=args.timeout)
    if finished.returncode != 0:
        return {"error": finished.stderr.strip().splitlines()[-1] if finished.stderr.strip() else "failed"}
    result = json.loads(finished.stdout.strip().splitlines()[-1])
    result["process_s"] = time.perf_counter() - started
    return result


def seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def markdown(results: dict) -> str:
    data = "a quick check on the sample" if results["quick"] else "the full MNIST"
    lines = [
        f"GPU benchmark on {results['card']} ({results['when']}); {data}.",
        "",
        "| backend | runner | cold: time to 99% (s) | warm: time to 99% (s) | first epoch, cold (s) | steady images/s"
        " | final test accuracy | epochs |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for run in results["runs"]:
        cold, warm = run["cold"], run.get("warm") or {}
        if "error" in cold:
            lines.append(f"| {run['backend']} | {run['runner']} | failed: {cold['error'][:80]} | | | | | |")
            continue
        rate = cold.get("steady_images_per_s")
        lines.append(
            f"| {run['backend']} | {run['runner']} | {seconds(cold['time_to_target_s'])} "
            f"| {seconds(warm.get('time_to_target_s'))} | {seconds(cold['first_epoch_s'])} "
            f"| {'-' if rate is None else f'{rate:,.0f}'} | {100 * cold['final_accuracy']:.2f}% | {cold['epochs']} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(HERE / "data"), help="the MNIST folder (default: benchmarks/gpu/data)")
    parser.add_argument("--quick", action="store_true", help="a few steps on the shipped sample (a CPU check)")
    parser.add_argument("--only", help="comma-separated runners to measure (default: all)")
    parser.add_argument("--timeout", type=int, default=240, help="seconds one measurement may take")
    parser.add_argument("--output", type=Path, help="also write the results here (the device's $OUT)")
    args = parser.parse_args()
    runs = [run for run in RUNS if not args.only or run[1] in args.only.split(",")]
    results = {"card": card(), "when": time.strftime("%Y-%m-%d"), "quick": args.quick, "runs": []}
    for backend, runner, warm_too in runs:
        cache = Path(tempfile.mkdtemp(prefix="mnist-cnn-cache-"))
        try:
            cold = measure(backend, runner, args, cache)
            warm = measure(backend, runner, args, cache) if warm_too and "error" not in cold else None
        except subprocess.TimeoutExpired:
            cold, warm = {"error": f"over {args.timeout} s"}, None
        finally:
            shutil.rmtree(cache, ignore_errors=True)
        results["runs"].append({"backend": backend, "runner": runner, "cold": cold, "warm": warm})
        print(f"  {backend} {runner}: {json.dumps({'cold': cold, 'warm': warm})[:300]}", file=sys.stderr, flush=True)
    name = "gpu-quick" if args.quick else "gpu-" + results["card"].lower().replace(" ", "-")
    table = markdown(results)
    for folder in (RESULTS, *([args.output] if args.output else [])):
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{name}.json").write_text(json.dumps(results, indent=2) + "\n")
        (folder / f"{name}.md").write_text(table)
    print(table)


if __name__ == "__main__":
    main()
