"""What each export of a trained model measures: file size, agreement with Keras on the test set, one-image latency.

    python benchmarks/export.py runs/recipes/fast/seed-1/model.keras --data ../shared/data

Prints a Markdown table; Keras' own one-image latency (predict_on_batch, as `mnist-cnn predict`) is the peer.
"""

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from mnist_cnn.data import load_data
from mnist_cnn.export import FORMATS, as_float32, default_export_path, export_model, exported_predictor
from mnist_cnn.model import load_model

LATENCY_CALLS = 200


def size_of(path: Path) -> int:
    return (
        sum(file.stat().st_size for file in path.rglob("*") if file.is_file()) if path.is_dir() else path.stat().st_size
    )


def one_image_latency_ms(predict, image: np.ndarray) -> float:
    predict(image)
    times = []
    for _ in range(LATENCY_CALLS):
        start = time.perf_counter()
        predict(image)
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", type=Path)
    parser.add_argument("--dataset", default="mnist")
    parser.add_argument("--data")
    args = parser.parse_args()
    model = as_float32(load_model(args.model))
    images, labels = load_data(args.dataset, args.data)[1]
    expected = model.predict(images, batch_size=1000, verbose=0)
    print("| format | size (KB) | largest difference from Keras | same digit | one-image latency (ms) |")
    print("| --- | ---: | ---: | ---: | ---: |")
    keras_latency = one_image_latency_ms(model.predict_on_batch, images[:1])
    print(f"| Keras (.keras, predict_on_batch) | {size_of(args.model) / 1024:,.0f} | 0 | 100% | {keras_latency:.2f} |")
    with tempfile.TemporaryDirectory() as folder:
        for export_format in FORMATS:
            path = export_model(model, default_export_path(Path(folder) / "model.keras", export_format), export_format)
            predict = exported_predictor(path, export_format)
            exported = np.concatenate([predict(images[i : i + 1000]) for i in range(0, len(images), 1000)])
            same = (exported.argmax(axis=1) == expected.argmax(axis=1)).mean()
            print(
                f"| {export_format} | {size_of(path) / 1024:,.0f} | {np.abs(exported - expected).max():.1e} "
                f"| {same:.2%} | {one_image_latency_ms(predict, images[:1]):.2f} |"
            )


if __name__ == "__main__":
    main()
