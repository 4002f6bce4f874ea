"""report.html in headless Chromium: no console errors, every figure decoded, a screenshot saved.

Chromium is Debian's ``chromium`` package (``make test`` installs it when it can, see
``.ci/install-browser``). Without it these tests are skipped with the reason, except where
``TRACERDIFF_REQUIRE_BROWSER=1`` (set by ``.ci/run``): there a missing browser is a failure,
since the report is only known to work if a browser opened it.
Chromium logs every console message (any level) as ``INFO:CONSOLE`` on stderr with
``--enable-logging=stderr``; the report contains no scripts, so any console line at
all (a CSP violation, a failed resource, an exception) counts as an error.
"""

import base64
import hashlib
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tracerdiff.study.runner import run_study
from tracerdiff.study.synthetic import write_synthetic_study

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-extensions",
         "--disable-default-apps", "--enable-logging=stderr", "--v=0", "--virtual-time-budget=5000"]
CONSOLE = re.compile(r":CONSOLE[:(]\d*\)?\]?\s*(.*)")

# Runs in the instrumented copy only: reports, per <img>, whether it decoded.
CHECK = ("window.addEventListener('load',function(){var r=[].map.call(document.images,function(i){"
         "return {alt:i.alt,ok:i.complete&&i.naturalWidth>0,w:i.naturalWidth}});"
         "var p=document.createElement('pre');p.id='img-check';p.textContent=JSON.stringify(r);"
         "document.body.appendChild(p);});")


def _chromium() -> str:
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        reason = ("chromium is not installed: install Debian's 'chromium' package (make test and .ci/run do "
                  "this when they can) to test report.html in a browser")
        if os.environ.get("TRACERDIFF_REQUIRE_BROWSER") == "1":
            pytest.fail(reason + " [TRACERDIFF_REQUIRE_BROWSER=1]")
        pytest.skip(reason)
    return exe


def _run(exe, tmp_path, url, *extra) -> subprocess.CompletedProcess:
    profile = tmp_path / f"profile-{len(list(tmp_path.glob('profile-*')))}"
    env = {**os.environ, "HOME": str(tmp_path)}  # keep Chromium's caches out of the real home
    return subprocess.run([exe, *FLAGS, f"--user-data-dir={profile}", *extra, url], capture_output=True,
                          text=True, timeout=120, env=env)


def _console_lines(stderr: str) -> list[str]:
    return [m.group(1) for line in stderr.splitlines() if (m := CONSOLE.search(line))]


@pytest.fixture(scope="module")
def exe() -> str:
    """The browser, checked before the (slow) report fixture runs."""
    return _chromium()


@pytest.fixture(scope="module")
def report(exe, tmp_path_factory) -> Path:
    study = write_synthetic_study(tmp_path_factory.mktemp("study"), seed=1, image=False)
    out = tmp_path_factory.mktemp("out")
    run_study(study, out, quiet=True)
    return out / "report.html"


def test_console_detection_works(exe, tmp_path):
    # Guard against a vacuous pass: a page that does log must be caught by the parser.
    page = tmp_path / "bad.html"
    page.write_text("<!DOCTYPE html><html><body><script>console.error('boom-probe');</script></body></html>")
    res = _run(exe, tmp_path, page.as_uri(), "--dump-dom")
    assert any("boom-probe" in line for line in _console_lines(res.stderr)), res.stderr[-2000:]


def test_report_opens_without_console_errors_and_saves_screenshot(exe, report, tmp_path):
    shot = report.parent / "report_screenshot.png"
    res = _run(exe, tmp_path, report.as_uri(), f"--screenshot={shot}", "--window-size=1280,2400",
               "--hide-scrollbars")
    assert res.returncode == 0, res.stderr[-2000:]
    assert _console_lines(res.stderr) == [], res.stderr[-2000:]
    assert shot.is_file() and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert shot.stat().st_size > 20_000  # a rendered page, not a blank canvas


def test_every_figure_decodes(exe, report, tmp_path):
    html = report.read_text()
    n_figures = html.count('<img class="figure"')
    assert n_figures >= 4  # erfc, evolution, impedance, Arrhenius (no image in this study)
    # Instrumented copy: the check script, allowed by its hash in an otherwise unchanged CSP.
    digest = base64.b64encode(hashlib.sha256(CHECK.encode()).digest()).decode()
    copy = html.replace("default-src 'none';", f"default-src 'none'; script-src 'sha256-{digest}';", 1)
    copy = copy.replace("</body>", f"<script>{CHECK}</script></body>", 1)
    assert copy != html
    page = tmp_path / "report_checked.html"
    page.write_text(copy)
    res = _run(exe, tmp_path, page.as_uri(), "--dump-dom")
    assert _console_lines(res.stderr) == [], res.stderr[-2000:]
    m = re.search(r'<pre id="img-check">(.*?)</pre>', res.stdout, re.S)
    assert m, "the check script did not run (CSP or load event)"
    images = json.loads(m.group(1).replace("&quot;", '"').replace("&amp;", "&"))
    assert len(images) == n_figures
    assert all(i["ok"] and i["w"] > 100 for i in images), images
