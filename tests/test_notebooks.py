"""Every notebook in notebooks/ runs top to bottom without an error, in this venv's kernel.

Notebooks run in a copy under tmp_path so whatever they write does not litter the repo.
The kernel sees ``TFDL_NOTEBOOK_SMALL=1`` (notebooks may shrink datasets and step counts
when it is set) and ``MPLBACKEND=Agg`` (plots render without a display).
"""

import shutil
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

pytestmark = pytest.mark.slow  # left out by `python3 dev.py test --quick`

NOTEBOOK_DIR = Path(__file__).resolve().parents[1] / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))

# Appended to every notebook: proves the kernel is this interpreter (the venv's python,
# via ipykernel's "python3" kernelspec) and that it imports tfdl.
KERNEL_CHECK = "import sys\nimport tfdl\nprint(sys.prefix)"


def test_notebooks_exist():
    assert NOTEBOOKS, f"no notebooks found in {NOTEBOOK_DIR}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs_without_errors(path, tmp_path, monkeypatch):
    monkeypatch.setenv("TFDL_NOTEBOOK_SMALL", "1")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    # Copy the whole folder: a notebook may read files that sit next to it.
    workdir = tmp_path / "notebooks"
    shutil.copytree(NOTEBOOK_DIR, workdir)
    nb = nbformat.read(workdir / path.name, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(KERNEL_CHECK))

    client = NotebookClient(
        nb,
        timeout=600,
        kernel_name="python3",
        resources={"metadata": {"path": str(workdir)}},
    )
    client.execute()  # raises CellExecutionError, with the cell's traceback, on an error

    errors = [
        f"{out.ename}: {out.evalue}"
        for cell in nb.cells
        if cell.cell_type == "code"
        for out in cell.outputs
        if out.output_type == "error"
    ]
    assert not errors, f"{path.name} produced errors: {errors}"
    check_output = "".join(
        out.get("text", "") for out in nb.cells[-1].outputs if out.output_type == "stream"
    )
    assert sys.prefix in check_output.splitlines(), (
        f"{path.name} ran in a kernel outside this venv ({sys.prefix}): {check_output!r}"
    )
