"""Write the animation README.md and the site's front page show: the lecture's 5x5 image and
horizontal-edge kernel, zero padding 1, stride 2, every number computed by the engine.

    python scripts/make_readme_gif.py        # -> docs/_static/conv2d-padding-stride.gif

Needs the "plot" extra (matplotlib, Pillow). The file is committed; rerun this after a change to
cnnpy.viz's drawing and commit the result (it must stay under 500 KB: the script refuses more).
"""
import sys
from pathlib import Path

import numpy as np

from cnnpy import kernels, viz

OUT = Path(__file__).resolve().parent.parent / "docs" / "_static" / "conv2d-padding-stride.gif"
LIMIT = 500 * 1024

IMAGE = np.array([[0, 1, 0, 0, 1]] * 2 + [[0, 1, 1, 1, 1]] + [[0, 1, 0, 0, 1]] * 2, dtype=float)  # the lecture's


def main() -> int:
    anim = viz.animate("conv2d", input=IMAGE, weight=kernels.edge(), padding=1, stride=2, interval=900)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    anim.save(OUT, hold=2.0)
    size = OUT.stat().st_size
    print(f"{OUT.relative_to(Path.cwd()) if OUT.is_relative_to(Path.cwd()) else OUT}: "
          f"{anim.frames} frames, {size:,} bytes")
    if size > LIMIT:
        print(f"too large: {size:,} > {LIMIT:,} bytes", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
