"""A piano-roll picture of melodies: one colour per track, on a beat and bar grid.

    plot_pianoroll({"call": call, "answer": answer.shift(call.end)}, "session.png", title="take 1")

Times are beats on one axis for every track (shift a track to place it); bar lines follow the
first melody's time signature. matplotlib (Agg, no display needed) is imported when called.
"""
from __future__ import annotations

import math

from .melody import Melody

COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b")  # call blue, answer red


def plot_pianoroll(tracks: dict[str, Melody], path, title: str = "") -> None:
    """Write a PNG piano roll of `tracks` (name -> Melody) to `path`."""
    import matplotlib
    matplotlib.use("Agg")
    from matplotlib.figure import (
        Figure,  # a Figure of its own: no pyplot state, safe in any thread
    )
    from matplotlib.patches import Patch, Rectangle

    notes = [note for melody in tracks.values() for note in melody.notes]
    end = max((note.end for note in notes), default=4.0)
    low = min((note.pitch for note in notes), default=60) - 2
    high = max((note.pitch for note in notes), default=72) + 2
    bar = next(iter(tracks.values())).beats_per_bar if tracks else 4.0

    figure = Figure(figsize=(max(6.0, min(0.35 * end, 30.0)), max(3.0, min(0.12 * (high - low), 10.0))))
    axes = figure.add_subplot()
    for beat in range(math.ceil(end) + 1):
        is_bar = abs(beat / bar - round(beat / bar)) < 1e-9
        axes.axvline(beat, color="0.55" if is_bar else "0.88", linewidth=1.0 if is_bar else 0.5, zorder=0)
    legend = []
    for (name, melody), colour in zip(tracks.items(), COLOURS * (len(tracks) // len(COLOURS) + 1)):
        for note in melody.notes:
            alpha = 0.35 + 0.65 * note.velocity / 127
            axes.add_patch(Rectangle((note.onset, note.pitch - 0.4), note.duration, 0.8,
                                     facecolor=colour, edgecolor="black", linewidth=0.4, alpha=alpha))
        legend.append(Patch(facecolor=colour, label=name))
    axes.set_xlim(0, end)
    axes.set_ylim(low, high)
    axes.set_xlabel(f"beats (bars of {bar:g})")
    axes.set_ylabel("MIDI pitch")
    if title:
        axes.set_title(title)
    if legend:
        axes.legend(handles=legend, loc="upper right")
    figure.tight_layout()
    figure.savefig(path, dpi=100)


__all__ = ["plot_pianoroll"]
