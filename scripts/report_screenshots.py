"""Screenshots of a forecast report and a backtest report for the README (docs/*.png), taken
the way the browser test takes them: headless Chromium with the network off.

    python scripts/report_screenshots.py RUN_DIR BACKTEST_DIR

RUN_DIR and BACKTEST_DIR hold a report.html (from `raincast run` and `raincast backtest`).
"""

from __future__ import annotations

import io
import sys
from pathlib import Path

from PIL import Image

from raincast_cli.report.browser import visit

ROOT = Path(__file__).resolve().parents[1]
WIDTH = 1100  # pixels of the stored picture (the page is rendered 1280 wide)


def save(report: Path, target: Path) -> None:
    page = visit(report, width=1280, height=900)
    if page.network_used:
        raise SystemExit(
            f"{report}: the page used the network: {page.requests} {page.csp_violations}"
        )
    image = Image.open(io.BytesIO(page.screenshot)).convert("RGB")
    image = image.resize((WIDTH, round(image.height * WIDTH / image.width)), Image.LANCZOS)
    # A 256-colour palette (octree, dithered: the colour bars stay smooth) keeps each
    # picture near 100-150 KB instead of 500-700 KB.
    palette = image.quantize(colors=256, method=Image.Quantize.FASTOCTREE,
                             dither=Image.Dither.FLOYDSTEINBERG)  # fmt: skip
    palette.save(target, optimize=True)
    print(
        f"{target.relative_to(ROOT)}: {image.width}x{image.height}, {target.stat().st_size} bytes"
    )


def main() -> int:
    run_dir, backtest_dir = (Path(a) for a in sys.argv[1:3])
    (ROOT / "docs").mkdir(exist_ok=True)
    save(run_dir / "report.html", ROOT / "docs" / "report-run.png")
    save(backtest_dir / "report.html", ROOT / "docs" / "report-backtest.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
