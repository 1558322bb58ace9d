"""The docs site in a real browser (headless Chromium driven by Playwright).

Built with --strict, served on loopback, then checked as a reader sees it:
pages render, nothing is fetched from outside the site, the offline search
finds a requirement ID, and code blocks carry a copy button.
"""

from __future__ import annotations

import functools
import http.server
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sinktest import ROOT

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    out = tmp_path_factory.mktemp("site")
    build = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)], cwd=ROOT,
                           capture_output=True, text=True, timeout=300)
    assert build.returncode == 0, build.stderr
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:  # keep the test output readable
            pass

    handler = functools.partial(Quiet, directory=str(out))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()


def test_pages_render_offline_and_search_works(site: str, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).exists(), "chromium is required (python3 kit.py test installs it with apt-get)"
    outside: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        page = browser.new_page()

        def watch(route, request) -> None:  # type: ignore[no-untyped-def]
            if not request.url.startswith(site) and not request.url.startswith("data:"):
                outside.append(request.url)
                route.abort()
            else:
                route.continue_()

        page.route("**/*", watch)
        for path in ("/", "/spec/v0/frames/", "/spec/v0/requirements-index/", "/vectors/reference/",
                     "/reference/connection/", "/guides/first-sync/"):
            response = page.goto(site + path)
            assert response is not None and response.ok, path
            assert page.locator("h1").first.inner_text().strip(), f"{path} has no title"
        page.goto(site + "/spec/v0/frames/")
        page.screenshot(path=str(tmp_path / "frames.png"), full_page=False)
        assert (tmp_path / "frames.png").stat().st_size > 10_000
        # requirement anchors are linkable
        page.goto(site + "/spec/v0/frames/#PUB-1")
        assert page.locator("[id='PUB-1']").count() == 1
        # code blocks get material's copy button (content.code.copy)
        page.goto(site + "/guides/first-sync/")
        copy = "button[data-md-type='copy'], button.md-clipboard"  # the theme's script adds them
        page.wait_for_selector(copy, state="attached", timeout=15_000)
        assert page.locator(copy).count() > 0
        # the built-in search works offline
        page.goto(site + "/")
        page.wait_for_timeout(500)
        page.keyboard.press("/")  # the theme's search shortcut, as a reader would use it
        page.keyboard.type("instance_id_mismatch")
        page.wait_for_selector(".md-search-result__item", state="attached", timeout=15_000)
        assert page.locator(".md-search-result__item").count() > 0
        browser.close()
    assert outside == [], f"the site fetched from outside: {outside}"
