"""Debian's chromium driven by Playwright for Python: screenshots of the ops page (the demo
takes them) and the browser test. Playwright's own browser download is not used: it launches
``/usr/bin/chromium`` (``make setup`` installs it) with a fresh profile."""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from services.errors import ServiceError

CHROMIUM = "chromium"
FLAGS = (
    "--headless",
    "--no-sandbox",  # root in a container: no user namespaces for the sandbox
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


class BrowserError(ServiceError):
    """Chromium or Playwright is missing, or the page did not do what was expected."""


@contextlib.contextmanager
def chromium(viewport: tuple[int, int] = (1400, 1000)) -> Iterator[Any]:
    """A Playwright browser context on Debian's chromium with a fresh ``--user-data-dir``."""
    binary = shutil.which(CHROMIUM)
    if binary is None:
        raise BrowserError("chromium not found: `make setup` installs Debian's chromium")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        raise BrowserError("playwright missing: pip install -e '.[test]'") from exc
    with tempfile.TemporaryDirectory(prefix="fleet-chromium-") as profile, sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            profile,
            executable_path=binary,
            headless=True,
            args=list(FLAGS),
            viewport={"width": viewport[0], "height": viewport[1]},
        )
        try:
            yield context
        finally:
            context.close()


def sign_in(page: Any, url: str, token: str) -> None:
    """Open the page and sign in; raises BrowserError when the console does not appear."""
    page.goto(url)
    page.fill("#login input[name=token]", token)
    page.click("#login button[type=submit]")
    page.wait_for_load_state()
    if page.locator("h1", has_text="Fleet control").count() == 0 or page.locator("#login").count():
        raise BrowserError(f"signing in at {url} did not open the console")


def screenshot(url: str, token: str, out: Path, minutes: int = 15) -> Path:
    """A full-page PNG of the console at ``url`` after signing in with ``token``."""
    out.parent.mkdir(parents=True, exist_ok=True)
    with chromium() as context:
        page = context.new_page()
        sign_in(page, url, token)
        page.goto(f"{url.rstrip('/')}/?minutes={minutes}")
        page.screenshot(path=str(out), full_page=True)
    return out
