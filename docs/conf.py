"""Sphinx configuration of the cnnpy site: ``python -m sphinx -W --keep-going -b html docs build/docs/html``.

Sphinx + MyST-NB (docs/DECISIONS.md, "Documentation site"): the notebooks of notebooks/ are copied
into docs/notebooks/ (not tracked) and executed at build time; the API reference is generated from
each module's public names by docs/_ext/cnnpy_docs.py; math is rendered to MathML at build time.
The cnnpy documented is the one installed (``pip install -e ".[docs]"``).
"""
import filecmp
import os
import shutil
import sys
from pathlib import Path

import cnnpy

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(DOCS / "_ext"))

# ---- the lecture's notebooks, copied in (an unchanged copy keeps its time stamp, so an incremental
# build does not execute it again) -----------------------------------------------------------------
_nb_src, _nb_dst = ROOT / "notebooks", DOCS / "notebooks"
_nb_dst.mkdir(exist_ok=True)
for _old in _nb_dst.glob("*.ipynb"):
    if not (_nb_src / _old.name).exists():
        _old.unlink()
for _nb in sorted(_nb_src.glob("*.ipynb")):
    _copy = _nb_dst / _nb.name
    if not _copy.exists() or not filecmp.cmp(_nb, _copy, shallow=False):
        shutil.copy2(_nb, _copy)

# The notebooks' kernels inherit this environment: no progress bars in the pages (tqdm reads
# TQDM_DISABLE), figures drawn off-screen.
os.environ["TQDM_DISABLE"] = "1"
os.environ["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"

project = "cnnpy"
author = "the cnnpy authors"
copyright = "the cnnpy authors, MIT licence"
release = version = cnnpy.__version__

extensions = ["myst_nb", "sphinx.ext.autodoc", "sphinx.ext.autosummary", "cnnpy_docs"]
root_doc = "index"
exclude_patterns = ["_build", "**/.ipynb_checkpoints", "_ext"]

# ---- MyST and notebook execution ----------------------------------------------------------------
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence"]
myst_heading_anchors = 3
nb_execution_mode = os.environ.get("CNNPY_DOCS_EXECUTE", "force")  # "off": render stored outputs only
nb_execution_timeout = 900              # seconds per cell: notebooks 05-09 train networks
nb_execution_raise_on_error = True      # a failing cell fails the build, with its traceback
nb_execution_show_tb = True
nb_output_stderr = "warn"               # anything on stderr (a warning) is a build warning: an error with -W
nb_merge_streams = True

# ---- API reference ------------------------------------------------------------------------------
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_default_options = {}
autosummary_generate = False
add_module_names = False

# ---- HTML ---------------------------------------------------------------------------------------
html_theme = "furo"
html_title = f"cnnpy {release}"
html_static_path = ["_static"]
html_css_files = ["cnnpy.css"]
html_math_renderer = "mathml"
html_show_sourcelink = False
html_copy_source = False
html_theme_options = {"navigation_with_keys": True}
html_favicon = "_static/favicon.svg"
