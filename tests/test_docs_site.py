"""The documentation site, as a reader sees it.

Build it first (README, "Documentation"):

    pip install -e ".[docs]"
    python -m sphinx -W --keep-going -b html docs build/docs/html

then these tests open every page of build/docs/html (or $CNNPY_SITE) in a real headless Chromium
(Debian's ``chromium``, or $CNNPY_CHROMIUM; driven by playwright, which never downloads a browser
here) served from 127.0.0.1: no console error or failed request, every image and every frame of
every animation loads and is not blank, every internal link and anchor resolves; the notebook 02
page is photographed to build/docs/screenshots/. Every public name of the API must be a documented
object in the reference.

Without a built site, Chromium or playwright these tests skip, saying what is missing; with
CNNPY_REQUIRE_SITE=1 (CI: .ci/docs.sh) they fail instead.
"""
import base64
import functools
import http.server
import importlib
import inspect
import io
import os
import re
import shutil
import threading
import types
from pathlib import Path
from urllib.parse import unquote, urldefrag, urljoin, urlparse

import pytest

ROOT = Path(__file__).resolve().parent.parent
SITE = Path(os.environ.get("CNNPY_SITE", ROOT / "build" / "docs" / "html")).resolve()
SHOTS = SITE.parent / "screenshots"
REQUIRE = os.environ.get("CNNPY_REQUIRE_SITE") == "1"
# the modules the reference documents, each on docs/api/<name>.md (cnnpy itself on cnnpy.md)
MODULES = ["cnnpy", "cnnpy.functional", "cnnpy.nn", "cnnpy.optim", "cnnpy.data", "cnnpy.transforms",
           "cnnpy.datasets", "cnnpy.models", "cnnpy.kernels", "cnnpy.viz"]


def _missing(why):
    if REQUIRE:
        pytest.fail(why + " (CNNPY_REQUIRE_SITE=1)", pytrace=False)
    pytest.skip(why)


def _site():
    if not (SITE / "index.html").exists():
        _missing(f"no built site at {SITE}: python -m sphinx -W -b html docs build/docs/html")
    return SITE


def public(module):
    """(name, object) for the module's public names: __all__, else what it defines."""
    names = getattr(module, "__all__", None)
    if names is None:
        names = [n for n, v in vars(module).items() if not n.startswith("_")
                 and getattr(v, "__module__", module.__name__).startswith(module.__name__)]
    return [(n, getattr(module, n)) for n in names]


def _page(modname):
    return "api/" + ("cnnpy" if modname == "cnnpy" else modname.split(".", 1)[1]) + ".html"


def _expected_ids(modname, page):
    """{(html page, element id)} that the reference must hold for every public name of modname;
    a public submodule without a page of its own is documented on this page."""
    ids = {(page, f"module-{modname}")}
    for name, obj in public(importlib.import_module(modname)):
        if isinstance(obj, types.ModuleType):
            if obj.__name__ not in MODULES:
                ids |= _expected_ids(obj.__name__, page)
        else:
            ids.add((page, f"{modname}.{name}"))
    return ids


# ---- the reference covers every public name ---------------------------------------------------------

def test_every_module_has_a_reference_page():
    for modname in MODULES:
        page = ROOT / "docs" / _page(modname).replace(".html", ".rst")
        assert page.exists(), f"{modname}: no {page.relative_to(ROOT)}"
        assert f".. cnnpy-api:: {modname}\n" in page.read_text(), f"{page.name} does not generate {modname}"


@pytest.mark.parametrize("modname", MODULES)
def test_every_public_name_has_a_docstring(modname):
    module = importlib.import_module(modname)
    assert inspect.getdoc(module), f"{modname} has no module docstring"
    undocumented = [n for n, o in public(module)
                    if not isinstance(o, (str, int, float, types.ModuleType)) and not inspect.getdoc(o)]
    assert not undocumented, f"{modname}: public names without a docstring: {undocumented}"


@pytest.mark.parametrize("modname", MODULES)
def test_every_public_name_is_in_the_built_reference(modname):
    site = _site()
    missing = []
    for page, ident in sorted(_expected_ids(modname, _page(modname))):
        html = (site / page).read_text(encoding="utf-8") if (site / page).exists() else ""
        if f'id="{ident}"' not in html:
            missing.append(f"{ident} (in {page})")
    assert not missing, ("not documented in the built site (rebuild it, or fix docs/_ext/cnnpy_docs.py): "
                         + ", ".join(missing))


# ---- the browser -------------------------------------------------------------------------------------

def _pages():
    if not (SITE / "index.html").exists():
        return []
    return sorted(str(p.relative_to(SITE)) for p in SITE.rglob("*.html")
                  if not p.relative_to(SITE).parts[0].startswith("_"))


def _chromium():
    for name in (os.environ.get("CNNPY_CHROMIUM"), "chromium", "chromium-browser"):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def browser():
    site = _site()
    exe = _chromium()
    if exe is None:
        _missing("no chromium on PATH (Debian: apt-get install chromium; or set CNNPY_CHROMIUM)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing('playwright is not installed (pip install -e ".[docs]")')
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(site)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    with sync_playwright() as p:
        chrome = p.chromium.launch(executable_path=exe, args=["--no-sandbox", "--disable-gpu"])
        try:
            yield chrome, f"http://127.0.0.1:{server.server_address[1]}/"
        finally:
            chrome.close()
            server.shutdown()
            server.server_close()


def _not_blank(data: bytes, what: str):
    """The picture decodes and has at least two clearly different grey levels."""
    from PIL import Image, ImageStat
    if data.lstrip()[:5] in (b"<?xml", b"<svg ") or b"<svg" in data[:300]:
        assert b"<path" in data or b"<rect" in data or b"<circle" in data or b"<text" in data, f"{what}: empty SVG"
        return
    with Image.open(io.BytesIO(data)) as im:
        n = getattr(im, "n_frames", 1)
        for frame in range(n):
            im.seek(frame)
            grey = im.convert("L")
            lo, hi = grey.getextrema()
            assert hi - lo > 20 and ImageStat.Stat(grey).stddev[0] > 1.0, f"{what}: frame {frame} is blank"


def _bytes_of(src: str, base: str):
    if src.startswith("data:"):
        head, _, payload = src.partition(",")
        return base64.b64decode(payload) if ";base64" in head else unquote(payload).encode()
    path = urlparse(src).path
    assert src.startswith(base), f"image from outside the site: {src}"
    return (SITE / unquote(path).lstrip("/")).read_bytes()


_IDS = {}


def _ids(path: Path):
    if path not in _IDS:
        _IDS[path] = set(re.findall(r'\bid="([^"]+)"', path.read_text(encoding="utf-8", errors="replace")))
    return _IDS[path]


@pytest.mark.slow
@pytest.mark.parametrize("page", _pages() or ["index.html"])
def test_page_in_a_browser(browser, page):
    chrome, base = browser
    url = urljoin(base, page)
    problems = []
    tab = chrome.new_page(viewport={"width": 1280, "height": 900})
    tab.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
    tab.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    tab.on("requestfailed", lambda r: problems.append(f"request failed: {r.url} ({r.failure})"))
    tab.on("response", lambda r: problems.append(f"HTTP {r.status}: {r.url}") if r.status >= 400 else None)
    try:
        tab.goto(url, wait_until="load")
        tab.wait_for_load_state("networkidle")
        images = tab.eval_on_selector_all(
            "img", "els => els.map(e => ({src: e.currentSrc || e.src, ok: e.complete && e.naturalWidth > 0}))")
        links = tab.eval_on_selector_all("a[href]", "els => els.map(e => e.href)")
    finally:
        tab.close()
    assert not problems, f"{page}:\n" + "\n".join(problems)

    for img in images:
        assert img["ok"], f"{page}: image did not load: {img['src'][:120]}"
        _not_blank(_bytes_of(img["src"], base), f"{page}: {img['src'][:80]}")

    # HTML5 animations (matplotlib's player): every embedded frame is a picture, as many as announced
    html = (SITE / page).read_text(encoding="utf-8")
    for announced, body in re.findall(r"var frames = new Array\((\d+)\);(.*?)</script>", html, flags=re.S):
        frames = re.findall(r'frames\[\d+\] = "data:image/png;base64,([^"]+)"', body)
        assert len(frames) == int(announced) > 0, f"{page}: animation announces {announced}, embeds {len(frames)}"
        for i, data in enumerate(frames):
            _not_blank(base64.b64decode(data), f"{page}: animation frame {i}")

    for href in links:
        target, fragment = urldefrag(href)
        if not target.startswith(base):
            assert urlparse(target).scheme in ("http", "https", "mailto"), f"{page}: odd link {href}"
            continue
        path = SITE / unquote(urlparse(target).path).lstrip("/")
        if path.is_dir():
            path = path / "index.html"
        assert path.exists(), f"{page}: broken link {href}"
        if fragment and path.suffix == ".html":
            assert unquote(fragment) in _ids(path), f"{page}: link {href}: no #{fragment} in {path.name}"


@pytest.mark.slow
@pytest.mark.parametrize("page,full", [("notebooks/02_edge_detection_and_padding.html", True),
                                       ("gallery.html", False), ("index.html", False)])
def test_screenshots(browser, page, full):
    """Photographs for the closing note, in build/docs/screenshots/ (full page for notebook 02)."""
    chrome, base = browser
    if not (SITE / page).exists():
        pytest.fail(f"the site has no {page}")
    tab = chrome.new_page(viewport={"width": 1280, "height": 900})
    try:
        tab.goto(urljoin(base, page), wait_until="load")
        tab.wait_for_load_state("networkidle")
        SHOTS.mkdir(parents=True, exist_ok=True)
        shot = SHOTS / Path(page).with_suffix(".png").name
        tab.screenshot(path=str(shot), full_page=full)
    finally:
        tab.close()
    _not_blank(shot.read_bytes(), str(shot))
