"""What each export of a trained model measures: file size, agreement with Keras on the test set, one-image latency."""

import statistics
import tempfile
from pathlib import Path

import numpy as np

from benchmarks.common import benchmark_parser, milliseconds, table, write_results
from mnist_cnn.data import load_data
from mnist_cnn.export import FORMATS, as_float32, default_export_path, export_model, exported_predictor
from mnist_cnn.model import load_model

LATENCY_CALLS = 200
BATCH = 1000
HEADER = ["format", "size (KB)", "largest difference from Keras", "same digit", "one-image latency (ms)"]
CELLS = {"size_kb": ",.0f", "largest_difference": ".1e", "same_digit": ".2%", "latency_ms": ".2f"}  # their formats


def row(name: str, path: Path, predict, images: np.ndarray, expected: np.ndarray) -> dict:
    """One format's size, largest difference from Keras, share of the same digits, and one-image latency."""
    answers = np.concatenate([predict(images[i : i + BATCH]) for i in range(0, len(images), BATCH)])
    files = [file for file in path.rglob("*") if file.is_file()] if path.is_dir() else [path]  # a SavedModel: a folder
    return {
        "format": name,
        "size_kb": sum(file.stat().st_size for file in files) / 1024,
        "largest_difference": float(np.abs(answers - expected).max()),
        "same_digit": float((answers.argmax(axis=1) == expected.argmax(axis=1)).mean()),
        "latency_ms": statistics.median(milliseconds(lambda _: predict(images[:1]), LATENCY_CALLS)),
    }


def main() -> None:
    parser = benchmark_parser(__doc__)
    parser.add_argument("model", type=Path)
    args = parser.parse_args()
    model = as_float32(load_model(args.model))
    images = load_data(args.dataset, args.data)[1][0]
    expected = model.predict(images, batch_size=BATCH, verbose=0)
    rows = [row("Keras (.keras, predict_on_batch)", args.model, model.predict_on_batch, images, expected)]
    with tempfile.TemporaryDirectory() as folder:
        for name in FORMATS:
            path = export_model(model, default_export_path(Path(folder) / "model.keras", name), name)
            rows.append(row(name, path, exported_predictor(path, name), images, expected))
    cells = [[one["format"], *(f"{one[key]:{spec}}" for key, spec in CELLS.items())] for one in rows]
    write_results("export", {"model": str(args.model), "formats": rows}, "\n".join(table(HEADER, cells)))


if __name__ == "__main__":
    main()
