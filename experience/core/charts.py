"""Charts drawn on the server as SVG: no chart library from a CDN, the same markup in the
page and in the PDF (WeasyPrint draws SVG), and nothing for the CSP to allow."""

from __future__ import annotations

from markupsafe import Markup, escape

FONT = "Noto Sans CJK SC, WenQuanYi Micro Hei, sans-serif"
PALETTE = ("#b71c1c", "#0b5cab", "#1b7f3b", "#9a6700", "#6a1b9a", "#00838f", "#5d4037")


def bar_chart(
    rows: list[tuple[str, float | None]],
    *,
    maximum: float,
    unit: str = "",
    title: str = "",
    width: int = 520,
    bar: int = 22,
    label_width: int = 150,
    decimals: int = 2,
) -> Markup:
    """Horizontal bars, one per (label, value); a value of None shows a dash."""
    gap = 8
    top = 24 if title else 4
    height = top + len(rows) * (bar + gap) + 4
    track = width - label_width - 70
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" '
        f'height="{height}" role="img" font-family="{FONT}" font-size="13">'
    ]
    if title:
        parts.append(f'<text x="0" y="16" font-weight="bold">{escape(title)}</text>')
        parts.append(f"<title>{escape(title)}</title>")
    for i, (label, value) in enumerate(rows):
        y = top + i * (bar + gap)
        parts.append(f'<text x="{label_width - 8}" y="{y + bar * 0.72:.1f}" text-anchor="end">{escape(label)}</text>')
        parts.append(f'<rect x="{label_width}" y="{y}" width="{track}" height="{bar}" fill="#eef1f4"/>')
        if value is not None and maximum > 0:
            w = max(0.0, min(1.0, value / maximum)) * track
            parts.append(
                f'<rect x="{label_width}" y="{y}" width="{w:.1f}" height="{bar}" fill="{PALETTE[i % len(PALETTE)]}"/>'
            )
            shown = f"{value:.{decimals}f}" if isinstance(value, float) else str(value)
            parts.append(
                f'<text x="{label_width + track + 6}" y="{y + bar * 0.72:.1f}">{escape(shown)}{escape(unit)}</text>'
            )
        else:
            parts.append(f'<text x="{label_width + track + 6}" y="{y + bar * 0.72:.1f}" fill="#616e7c">—</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def column_chart(
    values: list[int], labels: list[str], *, title: str = "", width: int = 260, height: int = 130
) -> Markup:
    """Vertical columns (a distribution: how many gave 1, 2, … 5 stars)."""
    top, bottom = (22 if title else 4), 20
    inner = height - top - bottom
    step = width / max(1, len(values))
    peak = max(values) if values and max(values) > 0 else 1
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" '
        f'height="{height}" role="img" font-family="{FONT}" font-size="12">'
    ]
    if title:
        parts.append(f'<text x="0" y="14" font-weight="bold">{escape(title)}</text><title>{escape(title)}</title>')
    for i, (value, label) in enumerate(zip(values, labels, strict=True)):
        h = inner * value / peak
        x = i * step + step * 0.15
        parts.append(
            f'<rect x="{x:.1f}" y="{top + inner - h:.1f}" width="{step * 0.7:.1f}" height="{h:.1f}" fill="#b71c1c"/>'
        )
        parts.append(
            f'<text x="{x + step * 0.35:.1f}" y="{top + inner - h - 3:.1f}" text-anchor="middle">{value}</text>'
        )
        parts.append(f'<text x="{x + step * 0.35:.1f}" y="{height - 5}" text-anchor="middle">{escape(label)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))
