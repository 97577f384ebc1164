"""Server-side SVG charts (no JavaScript, nothing from a CDN).

Every value is escaped; the SVG is returned as safe markup for the template.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from django.utils.timezone import localtime

from profiles.models import Run

SERIES = (
    ("created", "Created", "#2e7d32"),
    ("updated", "Updated", "#1565c0"),
    ("unchanged", "Unchanged", "#9e9e9e"),
    ("skipped", "Skipped", "#f9a825"),
    ("failed", "Failed", "#c62828"),
)


INITIAL_STROKE = "#222"
LABEL_CHARS = len("03 Dec 14:05")  # an x-axis label: the run's day and time…
LABEL_CHAR_PX = 6.0  # …at font size 10, wide digits counted generously…
LABEL_GAP_PX = 10  # …and this much room between two labels


@dataclass(frozen=True)
class Box:
    width: int = 720
    height: int = 220
    left: int = 44
    right: int = 12
    top: int = 28
    bottom: int = 42

    @property
    def plot_w(self) -> int:
        return self.width - self.left - self.right

    @property
    def plot_h(self) -> int:
        return self.height - self.top - self.bottom


def _nice_step(value: int) -> int:
    """A round grid step so that four steps cover ``value`` (1, 2, 5 × 10ⁿ)."""
    raw = max(1, -(-value // 4))
    magnitude = 10 ** (len(str(raw)) - 1)
    for step in (1, 2, 5, 10):
        if raw <= step * magnitude:
            return step * magnitude
    return raw


def runs_chart(runs: Sequence[Run], *, title: str = "Contacts per run") -> SafeString:
    """A stacked bar per run (oldest left): created / updated / unchanged / skipped / failed."""
    box = Box()
    out = [
        f'<svg class="cs-chart" role="img" viewBox="0 0 {box.width} {box.height}" '
        f'width="100%" xmlns="http://www.w3.org/2000/svg" aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
    ]
    if not runs:
        out.append(
            f'<text x="{box.width / 2}" y="{box.height / 2}" text-anchor="middle" '
            'fill="#777" font-size="14">No finished runs yet.</text></svg>'
        )
        return mark_safe("".join(out))  # noqa: S308 - built from escaped values only
    step = _nice_step(max(sum(getattr(r, key) for key, _, _ in SERIES) for r in runs))
    top = step * 4
    # grid + y axis labels
    for i in range(5):
        value = step * i
        y = box.top + box.plot_h - box.plot_h * i / 4
        out.append(
            f'<line x1="{box.left}" x2="{box.width - box.right}" y1="{y:.1f}" y2="{y:.1f}" '
            'stroke="#e3e3e3" stroke-width="1"/>'
            f'<text x="{box.left - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11" '
            f'fill="#666">{value}</text>'
        )
    slot = box.plot_w / len(runs)
    bar = max(2.0, min(36.0, slot * 0.7))
    # Thinned so that no two labels touch, however many runs there are.
    label_every = max(1, math.ceil((LABEL_CHAR_PX * LABEL_CHARS + LABEL_GAP_PX) / slot))
    for index, run in enumerate(runs):
        x = box.left + slot * index + (slot - bar) / 2
        y = float(box.top + box.plot_h)
        when = localtime(run.created_at).strftime("%d %b %H:%M")
        parts = []
        for key, label, colour in SERIES:
            value = getattr(run, key)
            if not value:
                continue
            h = box.plot_h * value / top
            y -= h
            parts.append(f"{label} {value}")
            out.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{h:.1f}" '
                f'fill="{colour}"><title>Run {run.pk} · {escape(when)} · {label}: {value}'
                "</title></rect>"
            )
        summary = ", ".join(parts) or "nothing to do"
        initial = run.job == "initial"
        if initial and y < box.top + box.plot_h:  # an initial export: outlined
            out.append(
                f'<rect class="cs-bar-initial" x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" '
                f'height="{box.top + box.plot_h - y:.1f}" fill="none" stroke="{INITIAL_STROKE}" '
                'stroke-width="2"/>'
            )
        out.append(
            f'<rect x="{x:.1f}" y="{box.top}" width="{bar:.1f}" height="{box.plot_h}" '
            f'fill="transparent"><title>Run {run.pk} ({escape(run.profile.name)}) · '
            f"{escape(run.kind_label)} · {escape(when)} · {escape(summary)}</title></rect>"
        )
        if index % label_every == 0:
            out.append(
                f'<text class="cs-x-label" x="{x + bar / 2:.1f}" '
                f'y="{box.height - box.bottom + 16}" text-anchor="middle" font-size="10" '
                f'fill="#555">{escape(when)}</text>'
            )
    # legend
    lx = box.left
    for _, label, colour in SERIES:
        out.append(
            f'<rect x="{lx}" y="8" width="10" height="10" fill="{colour}"/>'
            f'<text x="{lx + 14}" y="17" font-size="11" fill="#333">{label}</text>'
        )
        lx += 14 + 8 * len(label) + 14
    if any(run.job == "initial" for run in runs):
        out.append(
            f'<rect x="{lx}" y="8" width="10" height="10" fill="none" stroke="{INITIAL_STROKE}" '
            f'stroke-width="2"/><text x="{lx + 14}" y="17" font-size="11" fill="#333">'
            "Initial export</text>"
        )
    out.append("</svg>")
    return mark_safe("".join(out))  # noqa: S308 - built from escaped values only


def progress_bar(percent: int) -> SafeString:
    """A small SVG progress bar (the run page updates its width while polling)."""
    pct = max(0, min(100, int(percent)))
    return mark_safe(  # noqa: S308 - numbers only
        '<svg class="cs-progress" viewBox="0 0 100 6" preserveAspectRatio="none" '
        'width="100%" height="10" xmlns="http://www.w3.org/2000/svg">'
        '<rect width="100" height="6" fill="#e6e6e6" rx="2"/>'
        f'<rect class="cs-progress-fill" width="{pct}" height="6" fill="#417690" rx="2"/></svg>'
    )
