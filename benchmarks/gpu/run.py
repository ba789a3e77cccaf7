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
from importlib import metadata
from pathlib import Path

HERE = Path(__file__).parent
RESULTS = HERE.parent / "results"
# (backend, runner, measured warm too, the recipe's settings changed, environment added), in the order measured: the
# ones the README reports first, then variants of the gpu recipe. Measured before and left out since: XLA's autotuning
# off (--xla_gpu_autotune_level=0: about 5 s less compilation, 38 times slower steps) and mixed bfloat16 (12 s more
# compilation, 31% faster steps than float32: a loss for runs of seconds).
RUNS = (
    ("jax", "seed-code", True, {}, {}),
    ("jax", "package-seed", True, {}, {}),
    ("jax", "package-gpu", True, {}, {}),
    ("jax", "package-fast", True, {}, {}),
    ("torch", "package-gpu", False, {}, {}),
    ("torch", "package-fast", False, {}, {}),
    ("jax", "package-gpu", False, {}, {"XLA_FLAGS": "--xla_gpu_autotune_level=1"}),
    ("jax", "package-gpu", False, {"batch_size": 2000, "learning_rate": 0.015}, {}),
    ("torch", "torch-peer", False, {}, {}),
    ("torch", "torch-compiled", True, {}, {}),
)


def card() -> str:
    """The GPU's name, or "cpu"."""
    try:
        names = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"], capture_output=True,
                               text=True, timeout=30).stdout.split("\n")  # fmt: skip
        return names[0].strip() or "cpu"
    except (OSError, subprocess.SubprocessError):
        return "cpu"


def measure(
    backend: str, runner: str, settings: dict, added: dict, args: argparse.Namespace, cache: Path, timeout: float
) -> dict:
    command = [sys.executable, str(HERE / "measure.py"), runner]
    command += ["--quick"] if args.quick else ["--data", args.data]
    command += [f"--set={name}={value!r}" for name, value in settings.items()]
    environment = {
        **os.environ,
        **added,
        "KERAS_BACKEND": backend,
        "JAX_COMPILATION_CACHE_DIR": str(cache / "jax"),
        "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
        "TORCHINDUCTOR_CACHE_DIR": str(cache / "inductor"),
        "SETUPTOOLS_USE_DISTUTILS": "stdlib",  # Inductor builds C++ helpers through distutils
    }
    started = time.perf_counter()
    finished = subprocess.run(command, capture_output=True, text=True, env=environment, timeout=timeout)
    if finished.returncode != 0:
        return {"error": " / ".join(finished.stderr.strip().splitlines()[-3:]) or "failed"}
    result = json.loads(finished.stdout.strip().splitlines()[-1])
    result["process_s"] = time.perf_counter() - started
    return result


def seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def markdown(results: dict) -> str:
    data = "a quick check on the sample" if results["quick"] else "the full MNIST"
    lines = [
        f"GPU benchmark on {results['card']} ({results['when']}); {data}; "
        + ", ".join(f"{name} {version}" for name, version in results["versions"].items())
        + ".",
        "",
        "| backend | runner | changed | cold: time to 99% (s) | warm: time to 99% (s) | first epoch, cold (s)"
        " | steady images/s | final test accuracy | epochs |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for run in results["runs"]:
        cold, warm = run["cold"], run.get("warm") or {}
        changed = ", ".join(f"{name}={value}" for name, value in {**run["settings"], **run["environment"]}.items())
        if "error" in cold:
            lines.append(f"| {run['backend']} | {run['runner']} | {changed} | failed: {cold['error'][:80]} | | | | | |")
            continue
        rate = cold.get("steady_images_per_s")
        lines.append(
            f"| {run['backend']} | {run['runner']} | {changed} | {seconds(cold['time_to_target_s'])} "
            f"| {seconds(warm.get('time_to_target_s'))} | {seconds(cold['first_epoch_s'])} "
            f"| {'-' if rate is None else f'{rate:,.0f}'} | {100 * cold['final_accuracy']:.2f}% | {cold['epochs']} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(HERE / "data"), help="the MNIST folder (default: benchmarks/gpu/data)")
    parser.add_argument("--quick", action="store_true", help="a few steps on the shipped sample (a CPU check)")
    parser.add_argument("--only", help="comma-separated runners to measure (default: all)")
    parser.add_argument("--backend", help="comma-separated backends to measure them on (default: jax,torch)")
    parser.add_argument("--timeout", type=int, default=240, help="seconds one measurement may take")
    parser.add_argument("--budget", type=int, default=420, help="seconds for them all: later runs are left out")
    parser.add_argument("--output", type=Path, help="also write the results here (the device's $OUT)")
    args = parser.parse_args()
    runs = [
        run
        for run in RUNS
        if (not args.only or run[1] in args.only.split(",")) and (not args.backend or run[0] in args.backend.split(","))
    ]
    versions = {name: metadata.version(name) for name in ("keras", "jax", "jaxlib", "torch", "numpy")}
    results = {"card": card(), "when": time.strftime("%Y-%m-%d"), "versions": versions, "quick": args.quick, "runs": []}
    name = "gpu-quick" if args.quick else "gpu-" + results["card"].lower().replace(" ", "-")
    deadline = time.monotonic() + args.budget
    for backend, runner, warm_too, settings, added in runs:
        left = deadline - time.monotonic()
        if left < 20:
            print(f"  out of time: {backend} {runner} {settings} {added} left out", file=sys.stderr, flush=True)
            continue
        cache = Path(tempfile.mkdtemp(prefix="mnist-cnn-cache-"))
        cold = warm = None
        try:
            cold = measure(backend, runner, settings, added, args, cache, min(args.timeout, left))
            left = deadline - time.monotonic()
            if warm_too and "error" not in cold and left > 10:
                warm = measure(backend, runner, settings, added, args, cache, min(args.timeout, left))
        except subprocess.TimeoutExpired as timeout:
            cold = cold or {"error": f"over {timeout.timeout:.0f} s"}
        finally:
            shutil.rmtree(cache, ignore_errors=True)
        run = {"backend": backend, "runner": runner, "settings": settings, "environment": added, "cold": cold}
        results["runs"].append({**run, "warm": warm})
        print(f"  {backend} {runner} {settings} {added}: {json.dumps({'cold': cold, 'warm': warm})[:400]}",
              file=sys.stderr, flush=True)  # fmt: skip
        write(results, name, args.output)  # after each run, so that a run cut short keeps what it measured
    print(markdown(results))


def write(results: dict, name: str, output: Path | None) -> None:
    table = markdown(results)
    for folder in (RESULTS, *([output] if output else [])):
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{name}.json").write_text(json.dumps(results, indent=2) + "\n")
        (folder / f"{name}.md").write_text(table)


if __name__ == "__main__":
    main()
