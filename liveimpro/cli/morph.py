"""`liveimpro morph`: a melody turned into another step by step, through the melody VAE's latent space."""
from __future__ import annotations

from .vae_common import (
    add_common_arguments,
    count,
    load_model,
    read_phrase,
    tell_fit,
    write_outputs,
)


def add_arguments(parser) -> None:
    parser.add_argument("start", metavar="A.mid", help="the melody to start from")
    parser.add_argument("end", metavar="B.mid", help="the melody to end at")
    parser.add_argument("--steps", type=count, default=7,
                        help="melodies in the morph, A's and B's reconstructions included (default 7, at least 2)")
    add_common_arguments(parser)


def run(args) -> int:
    from ..errors import UserError
    from ..vae.steps import layout

    if args.steps < 2:
        raise UserError(f"--steps must be >= 2 (the two ends), got {args.steps}")
    a, b = read_phrase(args.start), read_phrase(args.end)
    vae = load_model(args)
    lay_a = layout(a)
    tell_fit(args.start, a, lay_a)
    own_bars, lay_b = layout(b).bars, layout(b, units=sum(lay_a.windows))
    if own_bars != lay_b.bars:
        change = "cut" if own_bars > lay_b.bars else "padded with rests"
        print(f"{args.end}: {own_bars} bar{'s' * (own_bars != 1)}, {change} to {lay_b.bars} to match {args.start}")
    melodies = vae.interpolate(a, b, args.steps)
    named = {f"morph-{i + 1:02d}": melody for i, melody in enumerate(melodies)}
    write_outputs(args.out, named, "morph.png", f"morph in {args.steps} steps: {a.name} -> {b.name}")
    return 0
