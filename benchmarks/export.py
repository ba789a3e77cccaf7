"""What each export of a trained model measures: file size, agreement with Keras on the test set, one-image latency.

python -m benchmarks.export runs/recipes/fast/seed-1/model.keras --data ../shared/data
"""

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.common import write_results
from mnist_cnn.data import load_data
from mnist_cnn.export import FORMATS, as_float32, default_export_path, export_model, exported_predictor
from mnist_cnn.model import load_model

LATENCY_CALLS = 200
BATCH = 1000


def size_of(path: Path) -> int:
    """The bytes of a file, or of every file in a folder (a SavedModel)."""
    return (
        sum(file.stat().st_size for file in path.rglob("*") if file.is_file()) if path.is_dir() else path.stat().st_size
    )


def one_image_latency_ms(predict, image: np.ndarray) -> float:
    """The median time of `predict` on one image, after a first call."""
    predict(image)
    times = []
    for _ in range(LATENCY_CALLS):
        start = time.perf_counter()
        predict(image)
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def row(name: str, path: Path, predict, images: np.ndarray, expected: np.ndarray) -> dict:
    """One format's size, largest difference from Keras, share of the same digits, and one-image latency."""
    answers = np.concatenate([predict(images[i : i + BATCH]) for i in range(0, len(images), BATCH)])
    return {
        "format": name,
        "size_kb": size_of(path) / 1024,
        "largest_difference": float(np.abs(answers - expected).max()),
        "same_digit": float((answers.argmax(axis=1) == expected.argmax(axis=1)).mean()),
        "latency_ms": one_image_latency_ms(predict, images[:1]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", type=Path)
    parser.add_argument("--dataset", default="mnist")
    parser.add_argument("--data")
    args = parser.parse_args()
    model = as_float32(load_model(args.model))
    images = load_data(args.dataset, args.data)[1][0]
    expected = model.predict(images, batch_size=BATCH, verbose=0)
    rows = [row("Keras (.keras, predict_on_batch)", args.model, model.predict_on_batch, images, expected)]
    with tempfile.TemporaryDirectory() as folder:
        for name in FORMATS:
            path = export_model(model, default_export_path(Path(folder) / "model.keras", name), name)
            rows.append(row(name, path, exported_predictor(path, name), images, expected))
    lines = ["| format | size (KB) | largest difference from Keras | same digit | one-image latency (ms) |"]
    lines.append("| --- | ---: | ---: | ---: | ---: |")
    for one in rows:
        lines.append(
            f"| {one['format']} | {one['size_kb']:,.0f} | {one['largest_difference']:.1e} | {one['same_digit']:.2%}"
            f" | {one['latency_ms']:.2f} |"
        )
    write_results("export", {"model": str(args.model), "formats": rows}, "\n".join(lines))


if __name__ == "__main__":
    main()
