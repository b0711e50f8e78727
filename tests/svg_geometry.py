"""Where kaleido's SVG draws its text and images, measured by Chromium (Playwright): boxes in CSS px."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

from playwright.sync_api import Page, sync_playwright

CHROMIUM = os.environ.get("XAMI_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run"]

# Every non-empty <text>: its text, its box on screen, its font size, and what it belongs to
# (tick label, colour bar, legend, annotation...). Every <image>: its box and the box of the clip
# path it is drawn through (so a frame cut by its axes shows as cut).
MEASURE_JS = """
() => {
  const svg = document.querySelector('svg');
  const root = svg.getBoundingClientRect();
  const box = r => [r.left - root.left, r.top - root.top, r.right - root.left, r.bottom - root.top];
  const role = el => {
    for (let p = el; p && p !== svg; p = p.parentElement) {
      const c = (p.getAttribute && p.getAttribute('class')) || '';
      for (const name of ['colorbar', 'legend', 'annotation', 'xtick', 'ytick', 'g-xtitle', 'g-ytitle',
                          'g-gtitle', 'textpoint', 'bartext']) {
        if (c.split(' ').some(w => w.startsWith(name))) return name;
      }
    }
    return 'other';
  };
  const corners = t => {  // the text's own box, turned with it (rotated labels are not axis-aligned)
    const b = t.getBBox(), m = t.getScreenCTM();
    return [[b.x, b.y], [b.x + b.width, b.y], [b.x + b.width, b.y + b.height], [b.x, b.y + b.height]].map(
      ([x, y]) => { const p = new DOMPoint(x, y).matrixTransform(m); return [p.x - root.left, p.y - root.top]; });
  };
  const bars = [...svg.querySelectorAll('g.colorbar')];
  const barOf = el => bars.findIndex(b => b.contains(el));
  const inClass = (el, name) => { for (let p = el; p && p !== svg; p = p.parentElement) {
    if (((p.getAttribute && p.getAttribute('class')) || '').split(' ').includes(name)) return true; } return false; };
  const texts = [...svg.querySelectorAll('text')].filter(t => t.textContent.trim() !== '').map(t => ({
    text: t.textContent, role: role(t), box: box(t.getBoundingClientRect()), corners: corners(t),
    // The printed size: plotly shrinks text that does not fit (bar values) with a scale transform, not the font size.
    size: parseFloat(getComputedStyle(t).fontSize) * Math.hypot(t.getScreenCTM().a, t.getScreenCTM().b), bar: barOf(t),
    barPart: inClass(t, 'cbtitle') ? 'title' : inClass(t, 'cbaxis') ? 'tick' : ''}));
  const barBoxes = bars.map(b => { const f = b.querySelector('rect.cbfill'); return f ? box(f.getBoundingClientRect()) : null; });
  const clipBox = el => {
    for (let p = el; p && p !== svg; p = p.parentElement) {
      const ref = p.getAttribute && p.getAttribute('clip-path');
      if (!ref) continue;
      const id = ref.match(/#([^)'"]+)/);
      const rect = id && svg.querySelector('#' + CSS.escape(id[1]) + ' rect');
      if (!rect) continue;
      const m = p.getScreenCTM();
      const x = +rect.getAttribute('x') || 0, y = +rect.getAttribute('y') || 0;
      const w = +rect.getAttribute('width'), h = +rect.getAttribute('height');
      const a = new DOMPoint(x, y).matrixTransform(m), b = new DOMPoint(x + w, y + h).matrixTransform(m);
      return [a.x - root.left, a.y - root.top, b.x - root.left, b.y - root.top];
    }
    return null;
  };
  const images = [...svg.querySelectorAll('image')].map(i => ({box: box(i.getBoundingClientRect()), clip: clipBox(i)}));
  return {width: root.width, height: root.height, texts, images, bars: barBoxes};
}
"""


@dataclass(frozen=True)
class Text:
    """One drawn text: what it says, its role, its box (x0, y0, x1, y1) and turned corners in CSS px, font size in px
    as drawn (the font size times any scale plotly applied)."""

    text: str
    role: str
    box: tuple[float, float, float, float]
    corners: tuple[tuple[float, float], ...]
    size: float
    bar: int = -1  # index of the colour bar it belongs to, or -1
    bar_part: str = ""  # "title" or "tick" within its colour bar


@dataclass(frozen=True)
class Geometry:
    """A rendered SVG's page size, texts, images' visible boxes (drawn box cut by the clip path), colour bars' boxes."""

    width: float
    height: float
    texts: list[Text]
    images: list[tuple[float, float, float, float]]
    bars: list[tuple[float, float, float, float]]


class SvgMeasurer:
    """One headless Chromium that loads SVGs and measures them."""

    def __enter__(self) -> SvgMeasurer:
        self._pw = sync_playwright().start()
        self._browser = self._pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        self._page: Page = self._browser.new_page()
        return self

    def __exit__(self, *exc: object) -> None:
        self._browser.close()
        self._pw.stop()

    def measure(self, svg: bytes) -> Geometry:
        """The geometry of one SVG document as Chromium lays it out."""
        self._page.set_content("<html><body style='margin:0'>" + svg.decode("utf-8") + "</body></html>")
        data = self._page.evaluate(MEASURE_JS)
        texts = [Text(t["text"], t["role"], tuple(t["box"]), tuple(map(tuple, t["corners"])), t["size"], t["bar"], t["barPart"]) for t in data["texts"]]
        images = []
        for item in data["images"]:
            x0, y0, x1, y1 = item["box"]
            if item["clip"]:
                cx0, cy0, cx1, cy1 = item["clip"]
                x0, y0, x1, y1 = max(x0, cx0), max(y0, cy0), min(x1, cx1), min(y1, cy1)
            images.append((x0, y0, x1, y1))
        bars = [tuple(b) for b in data["bars"] if b]
        return Geometry(data["width"], data["height"], texts, images, bars)


def overlaps(a: tuple[float, ...], b: tuple[float, ...], tolerance: float = 0.5) -> bool:
    """Whether two boxes (x0, y0, x1, y1) overlap by more than `tolerance` px in both directions."""
    return min(a[2], b[2]) - max(a[0], b[0]) > tolerance and min(a[3], b[3]) - max(a[1], b[1]) > tolerance


def texts_overlap(a: Text, b: Text, tolerance: float = 0.5) -> bool:
    """Whether two texts' turned boxes overlap by more than `tolerance` px (separating axis test)."""
    for quad in (a.corners, b.corners):
        for i in range(4):
            (x0, y0), (x1, y1) = quad[i], quad[(i + 1) % 4]
            nx, ny = y0 - y1, x1 - x0
            norm = math.hypot(nx, ny) or 1.0
            pa = [(x * nx + y * ny) / norm for x, y in a.corners]
            pb = [(x * nx + y * ny) / norm for x, y in b.corners]
            if min(max(pa), max(pb)) - max(min(pa), min(pb)) <= tolerance:
                return False
    return True
