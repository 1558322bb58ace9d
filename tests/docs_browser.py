"""Drive the built docs site in headless Chromium (Playwright pointed at Debian's /usr/bin/chromium).

Used by tests/test_docs_browser.py and, for people, by ``python3 kit.py screenshots``
(screenshots of key pages for review, written to reports/screenshots/, not committed).
"""

from __future__ import annotations

import functools
import http.server
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
KEY_PAGES = (
    "/",
    "/spec/v0/frames/",
    "/spec/v0/batch/",
    "/spec/v0/requirements-index/",
    "/vectors/reference/",
    "/format/",
    "/guides/first-sync/",
    "/reference/connection/",
)


def build_site(out: Path) -> None:
    build = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if build.returncode != 0:
        raise RuntimeError(f"mkdocs build --strict failed:\n{build.stdout}\n{build.stderr}")


@contextmanager
def serve(directory: Path) -> Iterator[str]:
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:  # keep test output readable
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(directory)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()


def site_pages(directory: Path) -> list[str]:
    """Every page of the built site, as URL paths."""
    pages = []
    for index in sorted(directory.rglob("index.html")):
        relative = index.parent.relative_to(directory).as_posix()
        if relative.startswith(("assets", "search")):
            continue
        pages.append("/" if relative == "." else f"/{relative}/")
    return pages


@dataclass
class Visit:
    outside: list[str] = field(default_factory=list)  # requests that left the site
    console_errors: list[str] = field(default_factory=list)
    bad_responses: list[str] = field(default_factory=list)  # 4xx/5xx


@contextmanager
def browser_page(base: str) -> Iterator[tuple[Any, Visit]]:
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        raise RuntimeError("chromium is required (python3 kit.py test installs it with apt-get)")
    visit = Visit()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})

        def route(route: Any, request: Any) -> None:
            if request.url.startswith(base) or request.url.startswith("data:"):
                route.continue_()
            else:
                visit.outside.append(request.url)
                route.abort()

        page.route("**/*", route)
        page.on(
            "console", lambda m: visit.console_errors.append(f"{page.url}: {m.text}") if m.type == "error" else None
        )
        page.on("response", lambda r: visit.bad_responses.append(f"{r.status} {r.url}") if r.status >= 400 else None)
        try:
            yield page, visit
        finally:
            browser.close()


def screenshots(out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    site = out / "site"
    build_site(site)
    written = []
    with serve(site) as base, browser_page(base) as (page, _visit):
        for path in KEY_PAGES:
            page.goto(base + path)
            page.wait_for_timeout(300)
            target = out / (path.strip("/").replace("/", "_") or "home")
            target = target.with_suffix(".png")
            page.screenshot(path=str(target), full_page=True)
            written.append(target)
    return written


if __name__ == "__main__":
    for shot in screenshots(Path(sys.argv[1] if len(sys.argv) > 1 else ROOT / "reports" / "screenshots")):
        print(shot)
