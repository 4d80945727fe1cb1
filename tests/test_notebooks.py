"""The notebooks in notebooks/ run top to bottom, and are stored without outputs.

Every ``notebooks/*.ipynb`` is found by the glob below, so a new notebook is tested as soon as it is
added. Each one is executed with nbclient (kernel ``python3``, cwd = notebooks/, matplotlib's Agg
backend), as CI does; any exception in a cell fails the test with that cell and its traceback.
Without nbclient or ipykernel the execution tests are skipped; the stored-without-outputs check
needs only the standard library.

Run just these: ``python -m pytest -q tests/test_notebooks.py`` (or ``-m notebook``).

With CNNPY_EXECUTED_NOTEBOOKS naming a folder of executed copies (CI: the documentation build's,
build/docs/jupyter_execute/notebooks, written by .ci/docs.sh), a notebook whose copy there has the
same code cells is not executed again: the copy must show every code cell run and no error.
"""
import json
import os
import pathlib
import re

import pytest

NOTEBOOK_DIR = pathlib.Path(__file__).resolve().parent.parent / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
IDS = [p.name for p in NOTEBOOKS]
KERNEL = "python3"
CELL_TIMEOUT = 600  # seconds per cell

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_stored_without_outputs(path):
    """Committed notebooks carry no outputs and no execution counts (CI produces them), and name
    the kernel the execution test uses."""
    nb = json.loads(path.read_text(encoding="utf-8"))
    assert nb.get("nbformat") == 4, f"{path.name}: not an nbformat v4 notebook"
    dirty = [i for i, cell in enumerate(nb.get("cells", []))
             if cell.get("cell_type") == "code"
             and (cell.get("outputs") or cell.get("execution_count") is not None)]
    assert not dirty, (f"{path.name}: code cells {dirty} are stored with outputs or execution counts; "
                       f"clear them (e.g. jupyter nbconvert --clear-output --inplace {path.name})")
    kernel = nb.get("metadata", {}).get("kernelspec", {}).get("name")
    assert kernel == KERNEL, f"{path.name}: kernelspec name is {kernel!r}, expected {KERNEL!r}"


EXECUTED = "CNNPY_EXECUTED_NOTEBOOKS"


def _executed_copy(nbformat, path, nb):
    """The copy of `path` in $CNNPY_EXECUTED_NOTEBOOKS when its code cells are the stored ones."""
    folder = os.environ.get(EXECUTED)
    copy = pathlib.Path(folder) / path.name if folder else None
    if copy is None or not copy.exists():
        return None
    executed = nbformat.read(str(copy), as_version=4)
    sources = [[c.source for c in n.cells if c.cell_type == "code"] for n in (nb, executed)]
    return executed if sources[0] == sources[1] else None


@pytest.mark.notebook
@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_notebook_runs(path, monkeypatch):
    """Execute the notebook top to bottom; fail with the first cell's error."""
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    from jupyter_client.kernelspec import NoSuchKernel
    from nbclient.exceptions import (
        CellExecutionError,
        CellTimeoutError,
        DeadKernelError,
    )

    monkeypatch.setenv("MPLBACKEND", "Agg")  # the kernel inherits the environment: no display needed
    nb = nbformat.read(str(path), as_version=4)
    executed = _executed_copy(nbformat, path, nb)
    if executed is not None:
        code = [c for c in executed.cells if c.cell_type == "code"]
        errors = [o for c in code for o in c.get("outputs", []) if o.get("output_type") == "error"]
        not_run = [i for i, c in enumerate(code) if c.get("execution_count") is None]
        assert not errors and not not_run, (f"{path.name}: the executed copy in {os.environ[EXECUTED]} has "
                                            f"errors {errors} / code cells not run {not_run}")
        return
    client = nbclient.NotebookClient(nb, kernel_name=KERNEL, timeout=CELL_TIMEOUT,
                                     resources={"metadata": {"path": str(NOTEBOOK_DIR)}})
    try:
        client.execute()
    except NoSuchKernel as err:
        pytest.skip(f"no Jupyter kernel named {KERNEL!r}: {err}")
    except CellExecutionError as err:  # the message holds the cell's source and traceback
        pytest.fail(f"{path.name} failed:\n{_ANSI.sub('', str(err))}", pytrace=False)
    except CellTimeoutError as err:
        pytest.fail(f"{path.name}: a cell ran longer than {CELL_TIMEOUT} s:\n{err}", pytrace=False)
    except DeadKernelError as err:
        pytest.fail(f"{path.name}: the kernel died (a crash in compiled code?):\n{err}", pytrace=False)
