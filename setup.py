"""The build step that puts everything the server serves inside the package, so a wheel serves what a checkout does.

From a checkout, ``build_py`` and ``sdist`` first copy ``static/``, ``templates/`` and daily-js (from npm's
``node_modules``, with its licence) into ``widget_server/_assets/`` (git-ignored); that directory is package data,
so it lands in the sdist and the wheel. A wheel built from the sdist finds the copy already there. Either way the
build stops, naming the file, when something the server serves is missing or stale: run ``make install`` first
(``make dist`` does both). ``widget_server/assets.py`` reads the same layout.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.command.sdist import sdist

HERE = Path(__file__).resolve().parent
OUT = HERE / "widget_server" / "_assets"
DAILY = HERE / "node_modules" / "@daily-co" / "daily-js"
UPLOT = HERE / "node_modules" / "uplot"
# (copied from, copied to under _assets/): the readable loader source is shipped too, though never served.
COPIES = [
    (HERE / "static", "static"),
    (HERE / "templates", "templates"),
    (DAILY / "dist" / "daily-esm.js", "vendor/daily-js/daily-esm.js"),
    (DAILY / "LICENSE", "vendor/daily-js/LICENSE"),
    (DAILY / "package.json", "vendor/daily-js/package.json"),
    (UPLOT / "dist" / "uPlot.esm.js", "vendor/uplot/uPlot.esm.js"),
    (UPLOT / "dist" / "uPlot.min.css", "vendor/uplot/uPlot.min.css"),
    (UPLOT / "LICENSE", "vendor/uplot/LICENSE"),
]
# What the server cannot serve without, with what makes it: each must be in _assets/ before the build goes on.
REQUIRED = {
    "static/embed.js": "the built loader: run `make install` (npm ci, then esbuild)",
    "static/frame.js": "the call page's script",
    "templates/frame.html": "the call page",
    "vendor/daily-js/daily-esm.js": "daily-js: run `make install` (npm ci)",
    "vendor/daily-js/LICENSE": "daily-js's licence: run `make install` (npm ci)",
}


def _stage() -> None:
    if (HERE / "static" / "loader").is_dir():  # a checkout; in an unpacked sdist _assets/ came with it
        _copy()
    missing = [f"{rel} ({why})" for rel, why in REQUIRED.items() if not (OUT / rel).is_file()]
    if missing:
        raise SystemExit("cannot build widget-server, missing: " + "; ".join(missing))


def _copy() -> None:
    built, source = HERE / "static" / "embed.js", HERE / "static" / "loader" / "embed.js"
    if built.is_file() and built.stat().st_mtime < source.stat().st_mtime:
        raise SystemExit("static/embed.js is older than static/loader/embed.js: run `make install` to rebuild it")
    shutil.rmtree(OUT, ignore_errors=True)
    for src, rel in COPIES:
        dest = OUT / rel
        if src.is_dir():
            shutil.copytree(src, dest, ignore=shutil.ignore_patterns("__pycache__", ".*"))
        elif src.is_file():
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest)


class BuildPy(build_py):
    def run(self) -> None:
        if not getattr(self, "editable_mode", False):  # an editable install serves the checkout itself
            _stage()
        super().run()


class Sdist(sdist):
    def run(self) -> None:
        _stage()
        super().run()


setup(cmdclass={"build_py": BuildPy, "sdist": Sdist})
