"""`liveimpro vary`: variations of a phrase (encode it, move its latent point, decode)."""
from __future__ import annotations

from .vae_common import (
    add_common_arguments,
    count,
    load_model,
    read_phrase,
    rng_of,
    share,
    tell_fit,
    write_outputs,
)


def add_arguments(parser) -> None:
    parser.add_argument("call", metavar="CALL.mid", help="the phrase to vary")
    parser.add_argument("-n", type=count, default=4, help="how many variations (default 4)")
    parser.add_argument("--amount", type=share, default=0.5,
                        help="how far to move from the phrase: 0 gives its reconstruction, 1 an unrelated "
                             "melody (default 0.5)")
    add_common_arguments(parser)


def run(args) -> int:
    from ..vae.steps import layout

    call = read_phrase(args.call)
    vae = load_model(args)
    tell_fit(args.call, call, layout(call))
    rng = rng_of(args)
    named = {"call": call}
    named.update({f"variation-{i + 1:02d}": vae.vary(call, args.amount, rng) for i in range(args.n)})
    write_outputs(args.out, named, "variations.png", f"{args.n} variations of {call.name}, amount {args.amount:g}")
    return 0
