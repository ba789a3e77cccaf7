"""The GPU benchmark in one call of a few minutes, each measurement by benchmarks.measure in a fresh process.

    python -m benchmarks.gpu.run [--data DIR] [--seeds 1 2 3] [--budget SECONDS] [--only GROUP ...] [--results DIR]
    python -m benchmarks.gpu.run --smoke      every measurement on the shipped sample, a few steps: a check on a CPU

What it measures, in which order and how: docs/backends-and-gpus.md, "On a GPU"; benchmarks/gpu/run.sh calls it there.
"""

import argparse
import dataclasses
import tempfile
import time
from pathlib import Path

from mnist_cnn.backend import use_backend

use_backend()  # before benchmarks.common imports Keras: on an installed backend (the GPU machine has no TensorFlow)

from benchmarks.common import RESULTS, gpu_names, run_json, spread, table, write_results  # noqa: E402

DATA = Path(__file__).parent / "data"
SEEDS = (1, 2, 3)
TARGET = 0.99
ACCURATE_TARGET = 0.995
BUDGET_S = 420
GRACE_S = 60  # how long a measurement started near the budget's end may run past it
MIN_START_S = 20  # no measurement is started with less left
CAP_S = 240  # the most one measurement may take
FAILURES_TO_STOP = 2  # the first measurements all failed: stop
STATES = ("cold", "warm")
AUTOTUNE_OFF = (("XLA_FLAGS", "--xla_gpu_autotune_level=0"),)
ONE_SHORT_EPOCH = ("epochs=1", "steps_per_epoch=16")
STAGES = {
    "imports_s": "imports",
    "data_s": "data",
    "device_s": "device",
    "build_and_compile_model_s": "build and compile the model",
    "fit_s": "fit",
    "test_pauses_s": "test pauses",
    "test_and_after_s": "after fit",
}


@dataclasses.dataclass(frozen=True)
class Run:
    """One measurement: a runner of benchmarks.measure on a backend, cold, and warm where `warm_too`."""

    group: str
    backend: str
    runner: str
    seed: int = SEEDS[0]
    warm_too: bool = True
    stop: bool = False  # stop at the target (two epochs at least), not at the recipe's end
    target: float = TARGET
    settings: tuple[str, ...] = ()  # NAME=VALUE, over the recipe's
    environment: tuple[tuple[str, str], ...] = ()


def plan(seeds: list[int]) -> list[Run]:
    """Every measurement, in the order they are made: what matters most first, for a budget cut short."""
    gpu = [Run("gpu", backend, "package-gpu", seed) for seed in seeds for backend in ("jax", "torch")]
    return [
        *gpu[:2],
        Run("notebook", "jax", "notebook", warm_too=False),
        *gpu[2:],
        Run("accurate", "jax", "package-accurate", warm_too=False, stop=True, target=ACCURATE_TARGET),
        Run("seed-code", "jax", "seed", stop=True),
        Run("fast", "jax", "package-fast"),
        Run("fast", "torch", "package-fast", warm_too=False),
        Run("torch-peer", "torch", "torch", warm_too=False, stop=True),
        Run("autotune-off", "jax", "package-gpu", warm_too=False, settings=ONE_SHORT_EPOCH, environment=AUTOTUNE_OFF),
    ]


def measure(run: Run, args: argparse.Namespace, cache: Path, timeout: float) -> dict:
    """One process of `run`, its compilation caches in `cache`: its JSON and its seconds, or {"error": ...}."""
    arguments = ["benchmarks.measure", run.runner, "--seed", str(run.seed), "--target", str(run.target)]
    arguments += ["--stop"] * run.stop + [f"--set={setting}" for setting in run.settings]
    arguments += ["--smoke"] if args.smoke else ["--data", str(args.data)]
    arguments += ["--save", str(args.results / f"{args.name}-notebook.ipynb")] if run.runner == "notebook" else []
    caches = {
        "JAX_COMPILATION_CACHE_DIR": "jax",
        "TORCHINDUCTOR_CACHE_DIR": "inductor",
        "TRITON_CACHE_DIR": "triton",
        "CUDA_CACHE_PATH": "nv",  # the driver's compiled kernels
        "XDG_CACHE_HOME": "xdg",
    }
    environment = {variable: str(cache / folder) for variable, folder in caches.items()}
    environment |= {"KERAS_BACKEND": run.backend, "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0"}
    environment["MNIST_CNN_DATA"] = str(Path(args.data).resolve())  # the notebook's MNIST
    environment["PIP_NO_INDEX"] = "1"  # no network there: a notebook's pip install fails at once, not after retries
    environment |= {"MNIST_CNN_QUICK": "1"} if args.smoke else {}
    started = time.perf_counter()
    result = run_json(arguments, timeout, log=True, **environment, **dict(run.environment))
    return result if "error" in result else {**result, "process_s": time.perf_counter() - started}


def measure_both(run: Run, args: argparse.Namespace, deadline: float) -> dict:
    """`run` cold, then warm where `warm_too` (the caches the cold one filled), while the budget lasts."""
    timings = {}
    with tempfile.TemporaryDirectory(prefix="mnist-cnn-caches-") as cache:
        for state in STATES if run.warm_too else STATES[:1]:
            timeout = min(CAP_S, deadline + GRACE_S - time.monotonic())
            if "error" in timings.get("cold", {}) or timeout < MIN_START_S:
                break
            timings[state] = measure(run, args, Path(cache), timeout)
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA, help="the four MNIST IDX files (default: %(default)s)")
    parser.add_argument("--seeds", type=int, nargs="+", default=list(SEEDS), help="the gpu recipe's seeds")
    parser.add_argument("--budget", type=float, default=BUDGET_S, help="seconds in which measurements are started")
    groups = dict.fromkeys(run.group for run in plan(SEEDS))
    parser.add_argument("--only", nargs="+", choices=groups, help="only these groups of measurements")
    parser.add_argument("--results", type=Path, default=RESULTS, help="the results' folder (default: %(default)s)")
    parser.add_argument("--smoke", action="store_true", help="each measurement on the sample, a few steps: a check")
    args = parser.parse_args()
    args.results.mkdir(parents=True, exist_ok=True)
    card = (gpu_names() or ["cpu"])[0]
    args.name = "gpu-smoke" if args.smoke else "gpu-" + card.lower().replace(" ", "-")
    results = {"card": card, "date": time.strftime("%Y-%m-%d"), "smoke": args.smoke, "runs": [], "left_out": []}
    deadline = time.monotonic() + args.budget
    for run in [run for run in plan(args.seeds) if run.group in (args.only or groups)]:
        if deadline - time.monotonic() < MIN_START_S:
            results["left_out"].append(dataclasses.asdict(run))
            continue
        results["runs"].append({**dataclasses.asdict(run), **measure_both(run, args, deadline)})
        write_results(args.name, results, markdown(results), args.results, echo=False)  # a call cut short keeps them
        if len(results["runs"]) == FAILURES_TO_STOP and all("error" in one.get("cold", {}) for one in results["runs"]):
            break  # something is broken for all: leave the device time for a call that measures
    write_results(args.name, results, markdown(results), args.results)


def markdown(results: dict) -> str:
    """The tables: by group over seeds, where a cold run's seconds went, and the notebook's cells."""
    smoke = " (smoke check: nothing timed)" if results["smoke"] else ""
    lines = [f"# GPU benchmark: {results['card']}, {results['date']}{smoke}", ""]
    lines += (
        group_table(results["runs"]) + [""] + stages_table(results["runs"]) + [""] + notebook_table(results["runs"])
    )
    left_out = [f"{run['group']} ({run['backend']}, seed {run['seed']})" for run in results["left_out"]]
    return "\n".join(lines + ([f"\nLeft out, the budget spent: {', '.join(left_out)}."] if left_out else [])) + "\n"


def group_row(group: str, backend: str, chosen: list[dict]) -> list[object]:
    """Mean ± standard deviation over the seeds of one group on one backend, cold and warm."""
    cold, warm = ([run[state] for run in chosen if "error" not in run.get(state, {"error": 1})] for state in STATES)
    seeds = ", ".join(str(run["seed"]) for run in chosen)
    if not cold:
        errors = "; ".join(run.get("cold", {}).get("error", "") for run in chosen)
        return [group, backend, seeds, "", f"failed: {errors[:200]}", "", "", "", "", "", ""]
    times, warm_times = ([one["time_to_target_s"] for one in each if one["time_to_target_s"]] for each in (cold, warm))
    return [
        *(group, backend, seeds, f"{chosen[0]['target']:.1%}", spread(times), spread(warm_times)),
        spread([one["first_epoch_s"] for one in cold]),
        spread([one["steady_images_per_s"] for one in cold], digits=0),
        spread([one["final_accuracy"] for one in cold], 100),
        f"{len(times)}/{len(cold)} cold, {len(warm_times)}/{len(warm)} warm",
        ", ".join(str(one["epochs"]) for one in cold),
    ]


def group_table(runs: list[dict]) -> list[str]:
    """A row for each group and backend (the notebook aside)."""
    pairs = dict.fromkeys((run["group"], run["backend"]) for run in runs if run["runner"] != "notebook")
    rows = [group_row(*pair, [run for run in runs if (run["group"], run["backend"]) == pair]) for pair in pairs]
    header = ["group", "backend", "seeds", "target", "cold: time to target (s)", "warm: time to target (s)"]
    header += ["first epoch, cold (s)", "steady images/s", "final test accuracy (%)", "reached it", "epochs"]
    return table(header, rows)


def stages_row(result: dict, key: tuple[str, str, str]) -> list[object]:
    """Where one process's seconds went, and JAX's compilations in it."""
    stages, programs = result["stages"], result["compilations"]
    python = result["process_s"] - sum(value for stage, value in stages.items() if stage != "test_pauses_s")
    traced = sum(program.get("trace_s", 0) + program.get("lower_s", 0) for program in programs.values())
    compiled = sum(program.get("compile_s", 0) for program in programs.values())
    slowest = sorted(programs, key=lambda name: -programs[name].get("compile_s", 0))[:3]
    figures = [result["process_s"], python, *(stages.get(stage, 0) for stage in STAGES), traced, compiled]
    named = ", ".join(f"{name} {programs[name].get('compile_s', 0):.2f}" for name in slowest)
    return [*key, *(f"{value:.2f}" for value in figures), named, f"{stages.get('copy_train_set_s', 0):.3f}"]


def stages_table(runs: list[dict]) -> list[str]:
    """Where the seconds of each group's first cold and warm process went."""
    results = {}
    for run in runs:
        for state in STATES:
            if "stages" in run.get(state, {}):
                results.setdefault((run["group"], run["backend"], state), run[state])
    header = ["group", "backend", "state", "process", "python", *STAGES.values(), "JAX trace + lower", "XLA compile"]
    header += ["slowest to compile", "copy the training set once"]
    return [
        "Where a process's seconds went (s), from its first line (`python`: the interpreter's start and the standard"
        " library's imports; `fit` holds the test pauses); JAX's tracing and lowering, and XLA's compiling (autotuning"
        " included; warm: loading from the cache), summed over all programs, and the three slowest to compile.",
        "",
        *table(header, [stages_row(result, key) for key, result in results.items()]),
    ]


def notebook_table(runs: list[dict]) -> list[str]:
    """The notebook's whole time and each code cell's, as its kernel timed them."""
    result = next((run["cold"] for run in runs if run["runner"] == "notebook" and "cold" in run), None)
    if result is None or "error" in result:
        return [f"The notebook: {result['error'] if result else 'not run'}."]
    training = sum(cell["seconds"] or 0 for cell in result["cells"] if cell["trains"])
    rows = [cell_row(cell) for cell in result["cells"]]
    return [
        f"The notebook, run whole in a fresh Jupyter kernel on JAX: {result['whole_s']:.1f} s from the kernel's start"
        f" to the last cell's end, {result['cells_s']:.1f} s in its cells; training cells (`.fit(`): {training:.1f} s.",
        "",
        *table(["cell", "first line", "seconds", "trains", "error"], rows),
    ]


def cell_row(cell: dict) -> list[object]:
    """A code cell's row: its number, first line, seconds, whether it trains, its error."""
    first = cell["first_line"].replace("|", "\\|")
    seconds = "-" if cell["seconds"] is None else f"{cell['seconds']:.2f}"
    return [cell["cell"], f"`{first}`", seconds, "yes" if cell["trains"] else "", cell["error"] or ""]


if __name__ == "__main__":
    main()
