"""The notebooks in notebooks/ run top to bottom, and are stored without outputs.

Every ``notebooks/*.ipynb`` is found by the glob below, so a new notebook is tested as soon as it is
added. Each one is executed with nbclient (kernel ``python3``, cwd = notebooks/, matplotlib's Agg
backend), as CI does; any exception in a cell fails the test with that cell and its traceback.
Without nbclient or ipykernel the execution tests are skipped; the stored-without-outputs check
needs only the standard library.

Run just these: ``python -m pytest -q tests/test_notebooks.py`` (or ``-m notebook``).
"""
import json
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
