"""The docs site in a real browser: Debian's headless Chromium, driven by Playwright.

The site is built with --strict and served on loopback; every page must load
without a console error, a 4xx/5xx response or a request leaving the site;
a requirement anchor scrolls into view; the offline search finds a requirement
ID; code blocks carry a copy button.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from docs_browser import browser_page, build_site, serve, site_pages


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    out = tmp_path_factory.mktemp("site")
    build_site(out)
    with serve(out) as base:
        yield base, out


def test_every_page_loads_cleanly_and_offline(site: tuple[str, Path]) -> None:
    base, out = site
    pages = site_pages(out)
    assert len(pages) > 30 and "/spec/v0/frames/" in pages and "/architecture/" in pages
    with browser_page(base) as (page, visit):
        for path in pages:
            response = page.goto(base + path, wait_until="load")
            assert response is not None and response.ok, path
            assert page.locator("h1").first.inner_text().strip(), f"{path} has no title"
    assert visit.outside == [], f"pages fetched from outside the site: {visit.outside[:5]}"
    assert visit.bad_responses == [], visit.bad_responses[:5]
    assert visit.console_errors == [], visit.console_errors[:5]


def test_anchor_search_and_copy(site: tuple[str, Path]) -> None:
    base, _out = site
    with browser_page(base) as (page, visit):
        page.goto(base + "/")
        assert "Sink" in page.locator("h1").first.inner_text()
        # a requirement anchor is a stable link that scrolls into view
        page.goto(base + "/spec/v0/errors/#ERR-9")
        page.wait_for_timeout(300)
        box = page.locator("[id='ERR-9']").bounding_box()
        assert box is not None and 0 <= box["y"] < page.viewport_size["height"], box  # type: ignore[index]
        # the built-in search works offline and finds a requirement ID
        page.goto(base + "/")
        page.wait_for_timeout(500)
        page.keyboard.press("/")  # the theme's search shortcut, as a reader would use it
        page.keyboard.type("HS-11")
        page.wait_for_selector(".md-search-result__item", state="attached", timeout=15_000)
        # a result names it, or links to its anchor (the excerpts are cut, and other pages cite HS-* too)
        results = page.locator(".md-search-result")
        hrefs = [a.get_attribute("href") or "" for a in results.locator("a").all()]
        assert "HS-11" in results.inner_text() or any(h.endswith("#HS-11") for h in hrefs), hrefs
        # code blocks get the theme's copy button (content.code.copy)
        page.goto(base + "/guides/first-sync/")
        copy = "button[data-md-type='copy'], button.md-clipboard"
        page.wait_for_selector(copy, state="attached", timeout=15_000)
        assert page.locator(copy).count() > 0
    assert visit.outside == [] and visit.console_errors == []
