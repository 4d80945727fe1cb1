"""Sphinx extension of the cnnpy site: the API reference generated from each module's public names,
the PyTorch-equivalents table read from the docstrings, the benchmark table from a committed JSON
run, and math rendered to MathML at build time (no JavaScript, nothing fetched by the reader).

    .. cnnpy-api:: cnnpy.nn                       (docs/api/*.rst)
    .. cnnpy-pytorch-table::
    .. cnnpy-benchmarks:: ../benchmarks/results
    .. cnnpy-toctree::                            (a toctree of the listed pages that exist)

They produce reStructuredText, so a MyST page uses them inside an ``{eval-rst}`` block.
"""
from __future__ import annotations

import importlib
import inspect
import json
import re
import types
from pathlib import Path

from docutils import nodes
from docutils.parsers.rst import directives
from docutils.statemachine import StringList
from sphinx.util.docutils import SphinxDirective
from sphinx.util.nodes import nested_parse_with_titles

# the modules with a page of their own (docs/api/<name>.rst); any other public submodule is
# documented inline on the page of the module that exports it
API_PAGES = ["cnnpy", "cnnpy.functional", "cnnpy.nn", "cnnpy.optim", "cnnpy.data",
             "cnnpy.transforms", "cnnpy.datasets", "cnnpy.models", "cnnpy.kernels", "cnnpy.viz"]


def public_names(module) -> list:
    """The module's public names: ``__all__`` when it has one, else every name not starting with
    an underscore that the module defines (not what it imports)."""
    names = getattr(module, "__all__", None)
    if names is not None:
        return list(names)
    return [n for n, v in vars(module).items() if not n.startswith("_")
            and not isinstance(v, types.ModuleType)
            and getattr(v, "__module__", module.__name__).startswith(module.__name__)]


def _kind(obj) -> str:
    if isinstance(obj, types.ModuleType):
        return "module"
    if inspect.isclass(obj):
        return "class"
    if callable(obj):
        return "function"
    return "data"


def _api_lines(modname: str, level: int = 0) -> list:
    """reStructuredText documenting every public name of `modname`."""
    module = importlib.import_module(modname)
    lines = [f".. automodule:: {modname}", "   :no-members:", ""]
    names = public_names(module)
    entries = [(n, getattr(module, n)) for n in names]
    listed = [n for n, o in entries if _kind(o) in ("class", "function")]   # relative to the automodule
    if listed:
        lines += [".. autosummary::", ""] + [f"   {q}" for q in listed] + [""]
    submodules = [(n, o) for n, o in entries if _kind(o) == "module"]
    paged = [o.__name__ for n, o in submodules if o.__name__ in API_PAGES]
    if paged:
        lines += ["Submodules with a page of their own: " +
                  ", ".join(f":py:mod:`{m}`" for m in paged) + ".", ""]
    for name, obj in entries:
        kind, qual = _kind(obj), f"{modname}.{name}"
        if kind == "class":
            lines += [f".. autoclass:: {qual}", "   :members:", "   :show-inheritance:", ""]
        elif kind == "function":
            lines += [f".. autofunction:: {qual}", ""]
        elif kind == "data":
            lines += [f".. autodata:: {qual}", "   :no-value:" if not isinstance(obj, (str, int, float)) else "", ""]
    for name, obj in submodules:
        if obj.__name__ in API_PAGES:
            continue
        title = f"``{obj.__name__}``"
        lines += [title, "~^"[min(level, 1)] * len(title), ""] + _api_lines(obj.__name__, level + 1)
    return lines


class ApiDirective(SphinxDirective):
    """``cnnpy-api MODULE``: the module's docstring, a summary table and every public name."""
    required_arguments = 1

    def run(self):
        modname = self.arguments[0]
        module = importlib.import_module(modname)
        self.env.note_dependency(inspect.getsourcefile(module))
        node = nodes.container()
        nested_parse_with_titles(self.state, StringList(_api_lines(modname), source=f"<cnnpy-api {modname}>"), node)
        return node.children


_PYTORCH = re.compile(r"^\s*PyTorch:\s*(.+?)\s*$", re.S)


def pytorch_rows():
    """(qualified cnnpy name, kind, the docstring's 'PyTorch: ...' paragraph) for every public
    class and function that names an equivalent."""
    rows = []
    for modname in API_PAGES:
        module = importlib.import_module(modname)
        for name in public_names(module):
            obj = getattr(module, name)
            if _kind(obj) not in ("class", "function"):
                continue
            doc = inspect.getdoc(obj) or ""
            for para in doc.split("\n\n"):
                m = _PYTORCH.match(para)
                if m:
                    rows.append((f"{modname}.{name}", _kind(obj), " ".join(m.group(1).split())))
                    break
    return rows


class PytorchTableDirective(SphinxDirective):
    """``cnnpy-pytorch-table``: each public name and the PyTorch equivalent its docstring names."""

    def run(self):
        lines = [".. list-table::", "   :header-rows: 1", "   :widths: 35 65", "",
                 "   * - cnnpy", "     - PyTorch (from the docstring)"]
        for qual, kind, text in pytorch_rows():
            role = "class" if kind == "class" else "func"
            lines += [f"   * - :py:{role}:`~{qual}` (``{qual.replace('cnnpy.', '', 1)}``)", f"     - {text}"]
        node = nodes.container()
        self.state.nested_parse(StringList(lines, source="<cnnpy-pytorch-table>"), self.content_offset, node)
        return node.children


def latest_run(folder: Path) -> Path:
    runs = sorted(folder.glob("*.json"))
    if not runs:
        raise FileNotFoundError(f"cnnpy-benchmarks: no *.json run in {folder}")
    return runs[-1]


def _us(v):
    return "-" if v is None else (f"{v:,.0f}" if v >= 100 else f"{v:.3g}")


def _num(v, spec):
    return "-" if v is None else format(v, spec)


class BenchmarksDirective(SphinxDirective):
    """``cnnpy-benchmarks FOLDER``: the newest ``*.json`` written by ``benchmarks/run.py --json``
    in FOLDER (named by its date), as one table per family with the run's machine and load."""
    required_arguments = 1
    option_spec = {"families": directives.unchanged}

    def run(self):
        folder = (Path(self.env.srcdir) / self.arguments[0]).resolve()
        try:
            path = latest_run(folder)
        except FileNotFoundError as err:
            raise self.error(str(err)) from None
        self.env.note_dependency(str(path))
        doc = json.loads(path.read_text())
        header = doc["header"]
        date = header.get("date", path.stem)
        lines = [f"Measured on **{date}** (`{path.name}` in `benchmarks/results/`): "]
        lines += ["", ".. list-table::", "   :widths: 25 75", ""]
        for key in ("machine", "peak (FMA probe)", "cnnpy ISA", "torch", "scipy", "numpy", "python",
                    "dtype", "threads", "load average"):
            if key in header:
                lines += [f"   * - {key}", f"     - {header[key]}"]
        lines.append("")
        families = list(dict.fromkeys(r["family"] for r in doc["results"]))
        for fam in families:
            rows = [r for r in doc["results"] if r["family"] == fam]
            title = fam[0].upper() + fam[1:]
            lines += [title, "~" * len(title), "", ".. list-table::", "   :header-rows: 1", "",
                      "   * - case", "     - threads", "     - cnnpy µs", "     - torch µs",
                      "     - cnnpy GFLOP/s", "     - % peak", "     - torch/cnnpy", "     - scipy/cnnpy",
                      "     - check", "     - others"]
            for r in rows:
                us, ratio = r.get("us", {}), r.get("ratio", {})
                cells = [r["case"], r["threads"], _us(us.get("cnnpy")), _us(us.get("torch")),
                         _num(r.get("gflops"), ".1f"), _num(r.get("pct_peak"), ".0f"),
                         _num(ratio.get("torch"), ".2f"), _num(ratio.get("scipy"), ".2f"),
                         r.get("check", "-"), _num(r.get("others"), ".2f")]
                lines += [f"   * - {cells[0]}"] + [f"     - {c}" for c in cells[1:]]
            lines.append("")
        node = nodes.container()
        nested_parse_with_titles(self.state, StringList(lines, source=str(path)), node)
        return node.children


class ExistingToctree(SphinxDirective):
    """``cnnpy-toctree``: a hidden toctree of the listed documents that exist (the design pages
    are written by several people; one not written yet is left out instead of failing the build)."""
    has_content = True
    option_spec = {"caption": directives.unchanged}

    def run(self):
        src = Path(self.env.srcdir)
        present = []
        for name in (line.strip() for line in self.content if line.strip()):
            candidates = [src / f"{name}{suffix}" for suffix in self.config.source_suffix]
            for path in candidates:
                self.env.note_dependency(str(path))   # re-read this page when one appears
            if any(path.exists() for path in candidates):
                present.append(name)
        lines = [".. toctree::", "   :maxdepth: 1", "   :hidden:"]
        if "caption" in self.options:
            lines.append(f"   :caption: {self.options['caption']}")
        lines += [""] + [f"   {name}" for name in present]
        node = nodes.container()
        self.state.nested_parse(StringList(lines, source="<cnnpy-toctree>"), self.content_offset, node)
        return node.children


# ---- math as MathML ---------------------------------------------------------------------------------

def _mathml(latex: str, display: str) -> str:
    from latex2mathml.converter import convert
    return convert(latex.strip(), display=display)


def _visit_math(self, node):
    self.body.append(_mathml(node.astext(), "inline"))
    raise nodes.SkipNode


def _visit_displaymath(self, node):
    self.body.append(f'<div class="math-display">{_mathml(node.astext(), "block")}</div>')
    raise nodes.SkipNode


def setup(app):
    app.add_directive("cnnpy-api", ApiDirective)
    app.add_directive("cnnpy-pytorch-table", PytorchTableDirective)
    app.add_directive("cnnpy-benchmarks", BenchmarksDirective)
    app.add_directive("cnnpy-toctree", ExistingToctree)
    app.add_html_math_renderer("mathml", (_visit_math, None), (_visit_displaymath, None))
    return {"parallel_read_safe": True, "parallel_write_safe": True}
