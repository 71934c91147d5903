"""How long the portal's SVG parallel coordinates take to draw N trials in headless Chromium (no WebGL).

    python3 benchmarks/portal_parcoords.py [N ...]      (default: 1000 5000 10000)

Prints, per N, the time of the first draw and of a brush pass (greying the lines outside it).
Needs playwright and Debian's chromium (NNI_REMOTE_CHROMIUM to use another).
"""
from __future__ import annotations

import os
import sys

from playwright.sync_api import sync_playwright

SCRIPT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "nni_remote", "server", "static",
                      "parcoords.js")
DRAW = """n => {
  const el = document.createElement("div"); el.style.width = "1240px"; document.body.appendChild(el);
  const dims = [{name: "lr", kind: "num", log: true}, {name: "width", kind: "num"},
                {name: "act", kind: "cat", cats: ["relu", "tanh", "gelu"]}, {name: "depth", kind: "num"},
                {name: "default", kind: "num"}];
  const rows = Array.from({length: n}, (_, i) => ({id: "t" + i, color: (i % 100) / 100,
    values: [10 ** (-4 + 3 * Math.random()), Math.random(), ["relu", "tanh", "gelu"][i % 3], i % 12, Math.random()]}));
  const spec = {dims, rows, brush: {}};
  let t = performance.now();
  window.NRParcoords.draw(el, spec);
  document.body.getBoundingClientRect();
  const draw = performance.now() - t;
  spec.brush.width = [0.2, 0.5];
  t = performance.now();
  window.NRParcoords.draw(el, spec);
  const brush = performance.now() - t;
  el.remove();
  return [draw, brush];
}"""


def main(sizes: list[int]) -> None:
    chromium = os.environ.get("NNI_REMOTE_CHROMIUM", "/usr/bin/chromium")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, headless=True,
                                    args=["--no-sandbox", "--disable-background-networking",
                                          "--disable-component-update", "--disable-dev-shm-usage"])
        page = browser.new_page()
        page.add_script_tag(path=SCRIPT)
        for n in sizes:
            draw, brush = page.evaluate(DRAW, n)
            print(f"{n:>6} trials: draw {draw:7.0f} ms, brush {brush:6.0f} ms")
        browser.close()


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [1000, 5000, 10000])
