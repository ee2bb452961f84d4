#!/usr/bin/env python
"""Open a ``sweep report`` page in headless Chromium: it must load cleanly and look like something.

Usage (from the repository root)::

    .venv/bin/python scripts/check_report_browser.py RUN_DIR/report.html [--screenshot shot.png]

Chromium comes from the system packages (Debian: ``apt-get install -y chromium``). Three checks:

1. **DOM**: Chromium loads a copy of the page with a probe script appended (the report itself has
   no JavaScript). The probe records uncaught errors, counts the images that failed to decode
   (``naturalWidth == 0``), the section headings and each section's images (``section_images``:
   the Front section's pair plots, for one), and the Importance section's bars and how many of
   them were laid out with a size, and writes the result into the DOM, which ``--dump-dom``
   prints. Every image must decode, every section must be there, every bar drawn, no error.
2. **Console**: Chromium's log (``--enable-logging=stderr --v=0``) must have no console message
   at all (Chromium logs them all as ``INFO:CONSOLE``, whatever their level; the report has no
   script, so any message, such as a failed resource load, is a problem).
3. **Screenshot** of the real page (1280x2000): it must not be blank: at least 2% of its pixels
   not white and at least 64 distinct colours.

Prints one JSON object; exit 0 when every check passed, 1 when one failed, 2 when Chromium is not
installed or the page does not exist.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "chrome")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--no-default-browser-check",
         "--hide-scrollbars", "--disable-dev-shm-usage")

PROBE = """
<script>
(function () {
  var errors = [];
  window.addEventListener('error', function (e) { errors.push(String(e.message || e)); });
  window.addEventListener('load', function () {
    var imgs = Array.prototype.slice.call(document.images);
    var out = {
      images: imgs.length,
      broken: imgs.filter(function (i) { return !i.complete || i.naturalWidth === 0; }).length,
      sizes: imgs.map(function (i) { return [i.naturalWidth, i.naturalHeight]; }),
      sections: Array.prototype.map.call(document.querySelectorAll('section[id]'), function (s) { return s.id; }),
      section_images: Array.prototype.reduce.call(document.querySelectorAll('section[id]'), function (acc, s) {
        acc[s.id] = s.querySelectorAll('img').length; return acc; }, {}),
      bars: document.querySelectorAll('table.imp td.bar > div').length,
      bars_drawn: Array.prototype.filter.call(document.querySelectorAll('table.imp td.bar > div'),
        function (b) { return b.offsetWidth > 0 && b.offsetHeight > 0; }).length,
      scripts: document.scripts.length - 1,
      errors: errors
    };
    var pre = document.createElement('pre');
    pre.id = 'report-probe';
    pre.textContent = 'REPORT-PROBE:' + JSON.stringify(out) + ':END';
    document.body.appendChild(pre);
  });
})();
</script>
"""


def find_browser() -> str | None:
    """The first Chromium-like browser on PATH."""
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    return None


def _run(browser: str, args: list[str], timeout: float) -> subprocess.CompletedProcess:
    with tempfile.TemporaryDirectory(prefix="report-chromium-") as profile:
        cmd = [browser, *FLAGS, f"--user-data-dir={profile}", *args]
        env = dict(os.environ, HOME=profile)  # no writes to the caller's ~/.config
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)


def _console_errors(stderr: str) -> list[str]:
    # Chromium logs every console message as INFO:CONSOLE whatever its level; the report has no
    # script, so any console message (a failed resource load included) is a problem.
    return [line.strip() for line in stderr.splitlines() if ":CONSOLE" in line or "Uncaught" in line]


def screenshot_stats(png: Path) -> dict[str, Any]:
    """Share of non-white pixels and number of distinct colours of an image."""
    from PIL import Image

    with Image.open(png) as im:
        rgb = im.convert("RGB")
        w, h = rgb.size
        small = rgb.resize((w // 2, h // 2)) if w * h > 2_000_000 else rgb
        colours = small.getcolors(maxcolors=1 << 20)
        n_colours = len(colours) if colours is not None else 1 << 20
        grey = rgb.convert("L")
        hist = grey.histogram()
        non_white = sum(hist[:245]) / float(w * h)
    return {"width": w, "height": h, "non_white_fraction": round(non_white, 4), "distinct_colours": n_colours}


def check(page: str | Path, screenshot: str | Path | None = None, *, browser: str | None = None,
          expected_sections: list[str] | None = None, timeout: float = 120.0) -> dict[str, Any]:
    """Run the three checks on ``page``; returns a dict with ``ok`` and the findings."""
    page = Path(page).resolve()
    browser = browser or find_browser()
    if browser is None:
        raise FileNotFoundError("no Chromium on PATH (apt-get install -y chromium)")
    if not page.is_file():
        raise FileNotFoundError(f"{page}: no such file")
    if expected_sections is None:
        try:
            from orchestrator.report import SECTIONS

            expected_sections = [sid for sid, _ in SECTIONS]
        except ImportError:  # run outside the repository's virtualenv
            expected_sections = []
    result: dict[str, Any] = {"page": str(page), "browser": browser, "problems": []}
    problems: list[str] = result["problems"]

    # 1. DOM, through a probed copy of the page
    with tempfile.TemporaryDirectory(prefix="report-probe-") as tmp:
        probed = Path(tmp, "probed.html")
        text = page.read_text(encoding="utf-8")
        probed.write_text(text.replace("</body>", PROBE + "</body>", 1) if "</body>" in text else text + PROBE,
                          encoding="utf-8")
        dom = _run(browser, ["--enable-logging=stderr", "--v=0", "--virtual-time-budget=10000", "--dump-dom",
                             probed.as_uri()], timeout)
    m = re.search(r"REPORT-PROBE:(\{.*?\}):END", dom.stdout, re.S)
    if dom.returncode != 0 or m is None:
        problems.append(f"the DOM did not load (exit {dom.returncode}; no probe output)")
        result["dom"] = None
    else:
        probe = json.loads(m.group(1).replace("&quot;", '"'))
        result["dom"] = {k: v for k, v in probe.items() if k != "sizes"}
        if probe["images"] == 0:
            problems.append("no images on the page")
        if probe["broken"]:
            problems.append(f"{probe['broken']} of {probe['images']} images did not decode")
        if probe["errors"]:
            problems.append(f"script errors: {probe['errors']}")
        if probe["scripts"]:
            problems.append(f"the page has {probe['scripts']} script element(s); the report should have none")
        missing = [s for s in expected_sections if s not in probe["sections"]]
        if missing:
            problems.append(f"sections missing from the DOM: {missing}")
        if probe["bars_drawn"] != probe["bars"]:
            problems.append(f"{probe['bars'] - probe['bars_drawn']} of {probe['bars']} importance bars have no size")
    console = _console_errors(dom.stderr)

    # 2 and 3. console and screenshot of the real page
    shot = Path(screenshot) if screenshot else Path(tempfile.mkdtemp(prefix="report-shot-")) / "report.png"
    shot.parent.mkdir(parents=True, exist_ok=True)
    if shot.exists():
        shot.unlink()
    cap = _run(browser, ["--enable-logging=stderr", "--v=0", "--virtual-time-budget=10000", "--window-size=1280,2000",
                         f"--screenshot={shot.resolve()}", page.as_uri()], timeout)
    console += _console_errors(cap.stderr)
    result["console_errors"] = console
    if console:
        problems.append(f"{len(console)} console error(s): {console[:3]}")
    result["screenshot"] = str(shot)
    if cap.returncode != 0 or not shot.is_file():
        problems.append(f"no screenshot (exit {cap.returncode}): {cap.stderr.strip().splitlines()[-1:]}")
    else:
        stats = screenshot_stats(shot)
        result["screenshot_stats"] = stats
        if stats["non_white_fraction"] < 0.02 or stats["distinct_colours"] < 64:
            problems.append(f"the screenshot looks blank: {stats}")
    result["ok"] = not problems
    return result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("page", help="the report's HTML file (e.g. RUN_DIR/report.html)")
    ap.add_argument("--screenshot", help="where to save the screenshot (default: a temporary file)")
    ap.add_argument("--browser", help="the browser binary (default: chromium on PATH)")
    args = ap.parse_args(argv)
    try:
        result = check(args.page, args.screenshot, browser=args.browser)
    except FileNotFoundError as e:
        print(f"check_report_browser: error: {e}", file=sys.stderr)
        return 2
    print(json.dumps(result, indent=2))
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
