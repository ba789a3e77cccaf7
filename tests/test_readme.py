"""The README's Python example runs as printed (in a temporary folder, on the shipped sample)."""

import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).parent.parent / "README.md"


def test_readmes_python_example_runs(tmp_path):
    example = re.search(r"```python\n(.*?)```", README.read_text(), re.DOTALL).group(1)
    assert 'load_data("sample")' in example
    finished = subprocess.run([sys.executable, "-c", example], cwd=tmp_path, capture_output=True, text=True)
    assert finished.returncode == 0, finished.stderr[-2000:]
    assert re.search(r"^Test accuracy: \d+\.\d%$", finished.stdout, re.MULTILINE)
