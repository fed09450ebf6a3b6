"""`liveimpro morph`: a melody turned into another step by step, through the melody VAE's latent space."""
from __future__ import annotations

from .vae_cmds import add_common_arguments, count, load_model, read_phrase, tell_fit, write_outputs


def add_arguments(parser) -> None:
    parser.add_argument("start", metavar="A.mid", help="the melody to start from")
    parser.add_argument("end", metavar="B.mid", help="the melody to end at")
    parser.add_argument("--steps", type=count, default=7,
                        help="melodies in the morph, A's and B's reconstructions included (default 7, at least 2)")
    add_common_arguments(parser)


def run(args) -> int:
    from .errors import UserError
    from .vae_repr import layout

    if args.steps < 2:
        raise UserError(f"--steps must be >= 2 (the two ends), got {args.steps}")
    a, b = read_phrase(args.start), read_phrase(args.end)
    vae = load_model(args)
    lay_a = layout(a)
    tell_fit(args.start, a, lay_a)
    lay_b = layout(b, units=sum(lay_a.windows))
    if lay_b.describe() or layout(b).bars != lay_a.bars:
        print(f"{args.end}: laid out like {args.start}, {lay_b.bars} bar{'s' * (lay_b.bars != 1)}"
              + (f"; {lay_b.describe()}" if lay_b.describe() else ""))
    melodies = vae.interpolate(a, b, args.steps)
    named = {f"morph-{i + 1:02d}": melody for i, melody in enumerate(melodies)}
    write_outputs(args.out, named, "morph.png", f"morph in {args.steps} steps: {a.name} -> {b.name}")
    return 0
