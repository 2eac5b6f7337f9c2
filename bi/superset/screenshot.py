"""Screenshot of a Superset dashboard as a logged-in user sees it (headless Chromium, Playwright).

    bi/superset/.venv/bin/python bi/superset/screenshot.py --url http://127.0.0.1:8088 \
        --dashboard loyalty-overview --out docs/img/superset-loyalty-overview.png

Logs in through Superset's /login/ form (SUPERSET_ADMIN_USER / SUPERSET_ADMIN_PASSWORD), opens the
dashboard and waits until every chart has drawn (no spinner, an SVG, canvas or table in each) before
taking the picture; exits non-zero, naming what it waited for, after --timeout seconds.
"""

from __future__ import annotations

import argparse
import os
import sys

from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import sync_playwright

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]

# True once every chart holder has drawn something and no spinner is left.
CHARTS_DRAWN = """(expected) => {
    const holders = [...document.querySelectorAll('.dashboard-component-chart-holder')];
    if (holders.length < expected) return false;
    if (document.querySelector('.loading, .ant-skeleton, [data-test="loading-indicator"]')) return false;
    return holders.every(h => h.querySelector('svg, canvas, table'));
}"""


def login(page, base_url: str, username: str, password: str, timeout_ms: int) -> None:
    page.goto(f"{base_url}/login/", timeout=timeout_ms)
    page.locator('input[name="username"], input#username').first.fill(username)
    page.locator('input[name="password"], input#password').first.fill(password)
    page.locator('button[type="submit"], input[type="submit"]').first.click()
    page.wait_for_url(lambda url: "/login" not in url, timeout=timeout_ms)


def take(base_url: str, dashboard: str, out: str, expected_charts: int, timeout_s: float,
         chromium: str, width: int) -> None:
    username = os.environ.get("SUPERSET_ADMIN_USER", "admin")
    password = os.environ.get("SUPERSET_ADMIN_PASSWORD", "admin")
    timeout_ms = int(timeout_s * 1000)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_FLAGS)
        try:
            page = browser.new_page(viewport={"width": width, "height": 1000})
            login(page, base_url, username, password, timeout_ms)
            page.goto(f"{base_url}/superset/dashboard/{dashboard}/?standalone=1", timeout=timeout_ms)
            try:
                page.wait_for_function(CHARTS_DRAWN, arg=expected_charts, timeout=timeout_ms, polling=500)
            except PlaywrightError as error:
                page.screenshot(path=out, full_page=True)
                sys.exit(f"dashboard {dashboard!r} did not draw {expected_charts} charts in {timeout_s:.0f}s "
                         f"(what it showed: {out}): {error}")
            page.wait_for_timeout(1500)  # ECharts animations settle
            page.screenshot(path=out, full_page=True)
        finally:
            browser.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="Superset's base URL, e.g. http://127.0.0.1:8088")
    parser.add_argument("--dashboard", default="loyalty-overview", help="dashboard slug or id")
    parser.add_argument("--out", required=True, help="PNG to write")
    parser.add_argument("--charts", type=int, default=1, help="how many charts must have drawn")
    parser.add_argument("--timeout", type=float, default=120)
    parser.add_argument("--chromium", default=os.environ.get("CHROMIUM", "/usr/bin/chromium"))
    parser.add_argument("--width", type=int, default=1600)
    args = parser.parse_args(argv)
    take(args.url.rstrip("/"), args.dashboard, args.out, args.charts, args.timeout, args.chromium, args.width)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
