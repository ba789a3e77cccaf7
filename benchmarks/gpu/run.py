"""The GPU benchmark in one call of a few minutes (docs/backends-and-gpus.md, "On a GPU"; run.sh calls it there)."""

import argparse
import tempfile
import time
from pathlib import Path
from typing import NamedTuple

from mnist_cnn.backend import use_backend

use_backend()  # before benchmarks.common imports Keras: on an installed backend (the GPU machine has no TensorFlow)

from benchmarks.common import RESULTS, gpu_names, run_json, spread, table, write_results  # noqa: E402

SEEDS = (1, 2, 3)
STATES = ("cold", "warm")
BUDGET_S = 420  # seconds in which runs may start: with setup and the last one's overrun, a 10-minute device call
MIN_START_S = 20  # a run starts only with this much of the budget left
RUN_S = 240  # one run's limit
PAST_BUDGET_S = 60  # how far past the budget a run started in time may go
FIGURES = (("first_epoch_s", 1, 2), ("steady_images_per_s", 1, 0), ("final_accuracy", 100, 2))  # key, scale, digits
# Every cache of compiled programs, each emptied for a cold run: JAX's, Inductor's, Triton's, the driver's, the user's.
CACHES = ("JAX_COMPILATION_CACHE_DIR", "TORCHINDUCTOR_CACHE_DIR", "TRITON_CACHE_DIR", "CUDA_CACHE_PATH")
CACHES += ("XDG_CACHE_HOME",)


class Run(NamedTuple):
    """One measurement: a runner of benchmarks.measure on a backend, cold, and warm where `warm_too`."""

    group: str
    backend: str
    runner: str
    seed: int = SEEDS[0]
    warm_too: bool = True
    options: tuple[str, ...] = ()  # benchmarks.measure's: --stop stops at the target, two epochs at least
    environment: tuple[tuple[str, str], ...] = ()


def plan(seeds: list[int]) -> list[Run]:
    """Every measurement, in the order they are made: what matters most first, for a budget cut short."""
    gpu = [Run("gpu", backend, "package-gpu", seed) for seed in seeds for backend in ("jax", "torch")]
    one_short_epoch = ("--set=epochs=1", "--set=steps_per_epoch=16")
    autotune_off = (("XLA_FLAGS", "--xla_gpu_autotune_level=0"),)
    return [
        *gpu[:2],
        Run("notebook", "jax", "notebook", warm_too=False),
        *gpu[2:],
        Run("accurate", "jax", "package-accurate", warm_too=False, options=("--stop", "--target=0.995")),
        Run("seed-code", "jax", "seed", options=("--stop",)),
        Run("fast", "jax", "package-fast"),
        Run("fast", "torch", "package-fast", warm_too=False),
        Run("torch-peer", "torch", "torch", warm_too=False, options=("--stop",)),
        Run("autotune-off", "jax", "package-gpu", warm_too=False, options=one_short_epoch, environment=autotune_off),
    ]


def measure(run: Run, args: argparse.Namespace, deadline: float) -> dict:
    """`run` cold, then warm where `warm_too` (the caches the cold one filled), each started while the budget lasts."""
    arguments = ["benchmarks.measure", run.runner, f"--seed={run.seed}", *run.options, *["--smoke"] * args.smoke]
    arguments += [f"--data={args.data}", f"--save={args.results}/{args.name}-notebook.ipynb"]  # --save: the notebook's
    # The notebook's MNIST, and no network there: its pip install fails at once, not after retries.
    environment = {"KERAS_BACKEND": run.backend, "MNIST_CNN_DATA": str(args.data.resolve()), "PIP_NO_INDEX": "1"}
    environment |= {"MNIST_CNN_QUICK": "1" if args.smoke else "0", "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0"}
    timings = {}
    with tempfile.TemporaryDirectory(prefix="mnist-cnn-caches-") as cache:
        environment |= {variable: f"{cache}/{variable}" for variable in CACHES}
        for state in STATES[: 1 + run.warm_too]:
            if "error" in timings.get("cold", {}) or deadline - time.monotonic() < MIN_START_S:
                break
            started = time.perf_counter()
            timeout = min(RUN_S, deadline + PAST_BUDGET_S - time.monotonic())
            timings[state] = run_json(arguments, timeout, log=True, **environment, **dict(run.environment))
            timings[state]["process_s"] = time.perf_counter() - started
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=Path(__file__).parent / "data", help="the four MNIST IDX files")
    parser.add_argument("--seeds", type=int, nargs="+", default=list(SEEDS), help="the gpu recipe's seeds")
    parser.add_argument("--budget", type=float, default=BUDGET_S, help="seconds in which measurements are started")
    groups = dict.fromkeys(run.group for run in plan(SEEDS))
    parser.add_argument("--only", nargs="+", choices=groups, help="only these groups of measurements")
    parser.add_argument("--results", type=Path, default=RESULTS, help="the results' folder (default: %(default)s)")
    parser.add_argument("--smoke", action="store_true", help="each measurement on the sample, a few steps: a check")
    args = parser.parse_args()
    card = (gpu_names() or ["cpu"])[0]
    args.name = "gpu-smoke" if args.smoke else "gpu-" + card.lower().replace(" ", "-")
    results = {"card": card, "date": time.strftime("%Y-%m-%d"), "smoke": args.smoke, "runs": []}
    deadline, runs = time.monotonic() + args.budget, results["runs"]
    for run in [run for run in plan(args.seeds) if run.group in (args.only or groups)]:
        write_results(args.name, results, markdown(results), args.results, echo=False)  # kept if the call is cut short
        runs.append({**run._asdict(), **measure(run, args, deadline)})
        if len(runs) == 2 and all("error" in one.get("cold", {}) for one in runs):
            break  # both failed: something is broken for all, so leave the device time for a call that measures
    write_results(args.name, results, markdown(results), args.results)


def markdown(results: dict) -> str:
    """The results' tables: each group and backend over its seeds (means ± standard deviations), stages, notebook."""
    runs, rows = [run for run in results["runs"] if "cold" in run], []
    for pair in dict.fromkeys((run["group"], run["backend"]) for run in runs if run["runner"] != "notebook"):
        chosen = [run for run in runs if (run["group"], run["backend"]) == pair]
        cold, warm = ([run[state] for run in chosen if "error" not in run.get(state, {"error": 1})] for state in STATES)
        times, warm_times = (
            [one["time_to_target_s"] for one in ones if one["time_to_target_s"]] for ones in (cold, warm)
        )
        target = f"{cold[0]['target']:.1%}" if cold else ""
        rows.append([*pair, ", ".join(str(run["seed"]) for run in chosen), target, spread(times), spread(warm_times)])
        rows[-1] += [spread([one[key] for one in cold], scale, digits) for key, scale, digits in FIGURES]
        rows[-1] += [f"{len(times)}/{len(cold)} cold, {len(warm_times)}/{len(warm)} warm"]
        failed = "; ".join(one[state]["error"] for one in chosen for state in STATES if "error" in one.get(state, {}))
        rows[-1] += [", ".join(str(one["epochs"]) for one in cold), failed[:200]]
    header = ["group", "backend", "seeds", "target", "cold: time to target (s)", "warm: time to target (s)"]
    header += ["first epoch, cold (s)", "steady images/s", "final test accuracy (%)", "reached it", "epochs", "errors"]
    smoke = " (smoke check: nothing timed)" if results["smoke"] else ""
    lines = [f"# GPU benchmark: {results['card']}, {results['date']}{smoke}", "", *table(header, rows), ""]
    lines += [*stages_table(runs), "", *notebook_table(runs)]
    left_out = [f"{one['group']} ({one['backend']}, seed {one['seed']})" for one in results["runs"] if one not in runs]
    return "\n".join(lines + ([f"\nLeft out, the budget spent: {', '.join(left_out)}."] if left_out else [])) + "\n"


def stages_table(runs: list[dict]) -> list[str]:
    """Where each process's seconds went (s), JAX's compilations in it among them."""
    rows, names = [], []
    for run, state in [(run, state) for run in runs for state in STATES if "stages" in run.get(state, {})]:
        result, stages, programs = run[state], run[state]["stages"], run[state]["compilations"]
        python = result["process_s"] - sum(value for stage, value in stages.items() if stage != "test_pauses_s")
        traced = sum(program.get("trace_s", 0) + program.get("lower_s", 0) for program in programs.values())
        compiled = {name: program.get("compile_s", 0) for name, program in programs.items()}
        figures = [result["process_s"], python, *stages.values(), traced, sum(compiled.values())]
        top = sorted(compiled, key=compiled.get, reverse=True)[:3]
        slowest = ", ".join(f"{name} {compiled[name]:.2f}" for name in top)
        rows.append([run["group"], run["backend"], run["seed"], state, *(f"{value:.2f}" for value in figures), slowest])
        names = [stage.removesuffix("_s").replace("_", " ") for stage in stages]
    header = ["group", "backend", "seed", "state", "process", "python", *names, "JAX trace + lower", "XLA compile"]
    header.append("slowest to compile")
    return ["Where each process's seconds went (s), as docs/backends-and-gpus.md says.", "", *table(header, rows)]


def notebook_table(runs: list[dict]) -> list[str]:
    """The notebook's whole time and each code cell's, as its kernel timed them."""
    result = next((run["cold"] for run in runs if run["runner"] == "notebook"), {"error": "not run"})
    if "error" in result:
        return [f"The notebook: {result['error']}."]
    cells, header = result["cells"], ["cell", "first line", "seconds", "trains", "error"]
    rows = [
        [c["cell"], f"`{c['first_line']}`", f"{c['seconds']:.2f}", "yes" if c["trains"] else "", c["error"] or ""]
        for c in cells
    ]
    whole, training = result["whole_s"], sum(cell["seconds"] for cell in cells if cell["trains"])
    intro = f"The notebook, run whole in a fresh Jupyter kernel on JAX: {whole:.1f} s from the kernel's start to the"
    intro += f" last cell's end, {result['cells_s']:.1f} s in its cells; training cells (`.fit(`): {training:.1f} s."
    return [intro, "", *table(header, rows)]


if __name__ == "__main__":
    main()
