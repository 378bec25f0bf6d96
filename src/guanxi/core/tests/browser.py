"""The shared Chromium fixtures (Playwright, Debian's /usr/bin/chromium) every browser test uses.

``src/guanxi/conftest.py`` offers ``browser`` and ``page`` to every test; a test module may also import them
(and ``sign_in``, ``PASSWORD``) from here, or, as older tests do, from ``guanxi.workspace.tests.test_browser``,
which re-exports them. ``page`` fails the test on anything the Content-Security-Policy blocks and on anything
a page loads from outside the app.
"""

from __future__ import annotations

import os
import re

import pytest

from guanxi.core.tests.services import CHROMIUM

ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PASSWORD = "pw-for-tests-123"  # what accounts.tests.factories.UserFactory sets


@pytest.fixture(scope="module")
def browser():
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium (.ci/run does)")
    # Playwright's sync API runs an event loop in this thread; the ORM calls here are plain synchronous test code.
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, live_server, transactional_db):
    context = browser.new_context(locale="zh-CN", viewport={"width": 1360, "height": 900}, base_url=live_server.url)
    context.set_default_timeout(10_000)
    page = context.new_page()
    outside: list[str] = []
    page.on("request", lambda r: None if r.url.startswith((live_server.url, "data:")) else outside.append(r.url))
    refused: list[str] = []  # what the Content-Security-Policy blocked: every page must work under it
    page.on(
        "console", lambda m: refused.append(f"{page.url}: {m.text}") if "Content Security Policy" in m.text else None
    )
    yield page
    context.close()
    assert not outside, f"pages loaded something from outside the app: {outside}"
    assert not refused, f"the Content-Security-Policy blocked parts of the pages: {refused}"


def sign_in(page, username: str) -> None:
    """Sign in through the login page (the home page sends a stranger there) and land on the home page."""
    page.goto("/")
    assert "/login/" in page.url
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click(".auth-card button[type=submit]")
    page.wait_for_url(re.compile(r"^https?://[^/]+/$"))


def follow(page, link) -> None:
    """Click a link and wait for the new page's load event: htmx is a deferred script and binds its triggers
    once the document is parsed, so typing into an htmx input before that loses the request (a flaky test)."""
    with page.expect_navigation():
        link.click()
