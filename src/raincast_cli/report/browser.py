"""Opening a report the way a person does: Debian's headless Chromium, driven by playwright,
with the network disabled, a screenshot taken, and what the page did recorded.

Used by the browser tests and by ``scripts/report_screenshots.py`` (the README's pictures).
Needs the dev extra (playwright) and ``/usr/bin/chromium`` (``scripts/test.sh`` installs
Debian's chromium when it is missing); playwright's own browser downloads are never used.

"Network disabled" is three locks, and each is also a witness: the browser context is
offline, every request other than the report file itself is recorded and aborted by a
route, and the page's own Content-Security-Policy violations (a blocked load never becomes a
request) are recorded by a listener installed before the page's first script.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CHROMIUM = os.environ.get("RAINCAST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
_WATCH_CSP = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__cspViolations.push(e.violatedDirective + " " + e.blockedURI);
});
"""
# Every figure of the page: its box on screen and what it is made of.
_FIGURES = """
() => Array.from(document.querySelectorAll("figure")).map((f) => {
  const svg = f.querySelector("svg");
  const box = svg ? svg.getBoundingClientRect() : {width: 0, height: 0};
  return {
    id: f.id, hidden: f.hidden, width: box.width, height: box.height,
    paths: svg ? svg.querySelectorAll("path").length : 0,
    texts: svg ? Array.from(svg.querySelectorAll("text")).map((t) => t.textContent) : [],
  };
})
"""


@dataclass
class PageVisit:
    url: str
    screenshot: bytes
    requests: list[str] = field(default_factory=list)  # every request but the page itself
    csp_violations: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)  # alert()/confirm(): injected script ran
    figures: list[dict[str, Any]] = field(default_factory=list)
    title: str = ""
    text: str = ""  # the page's visible text
    extra: Any = None  # what ``evaluate`` returned

    @property
    def network_used(self) -> bool:
        return bool(self.requests or self.csp_violations)


def chromium_available() -> bool:
    return Path(CHROMIUM).is_file() and os.access(CHROMIUM, os.X_OK)


def visit(
    path: Path,
    *,
    width: int = 1280,
    height: int = 900,
    full_page: bool = True,
    actions: str | None = None,
    evaluate: str | None = None,
) -> PageVisit:
    """Loads ``path`` offline, runs ``actions`` (a JS function body) if given, and returns the
    screenshot and what the page requested and showed."""
    from playwright.sync_api import sync_playwright

    url = path.resolve().as_uri()
    with (
        tempfile.TemporaryDirectory(prefix="raincast-chromium-") as profile,
        sync_playwright() as pw,
    ):
        context = pw.chromium.launch_persistent_context(
            profile,
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_ARGS,
            offline=True,
            viewport={"width": width, "height": height},
            device_scale_factor=1,
        )
        try:
            requests: list[str] = []
            console_errors: list[str] = []
            page_errors: list[str] = []
            dialogs: list[str] = []

            def route(route: Any) -> None:
                if route.request.url == url:
                    route.continue_()
                else:
                    route.abort()

            context.route("**/*", route)
            context.add_init_script(_WATCH_CSP)
            page = context.pages[0] if context.pages else context.new_page()

            def on_request(request: Any) -> None:
                if request.url != url:
                    requests.append(request.url)

            def on_console(message: Any) -> None:
                if message.type == "error":
                    console_errors.append(message.text)

            def on_page_error(error: Any) -> None:
                page_errors.append(str(error))

            page.on("request", on_request)
            page.on("console", on_console)
            page.on("pageerror", on_page_error)

            def on_dialog(dialog: Any) -> None:
                dialogs.append(dialog.message)
                dialog.dismiss()

            page.on("dialog", on_dialog)
            page.goto(url, wait_until="load")
            if actions:
                page.evaluate(f"() => {{ {actions} }}")
            extra = page.evaluate(evaluate) if evaluate else None
            page.wait_for_timeout(100)  # let late loads (if any) show up
            shot = page.screenshot(full_page=full_page, type="png")
            return PageVisit(
                url=url,
                screenshot=shot,
                requests=requests,
                csp_violations=page.evaluate("() => window.__cspViolations || []"),
                console_errors=console_errors,
                page_errors=page_errors,
                dialogs=dialogs,
                figures=page.evaluate(_FIGURES),
                title=page.title(),
                text=page.inner_text("body"),
                extra=extra,
            )
        finally:
            context.close()
