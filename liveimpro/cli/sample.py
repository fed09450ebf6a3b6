"""`liveimpro sample`: melodies decoded from random points of the melody VAE's latent space."""
from __future__ import annotations

import argparse

from .vae_common import add_common_arguments, count, load_model, rng_of, write_outputs


def meter(text: str) -> tuple[int, int]:
    num, _, den = text.partition("/")
    try:
        value = (int(num), int(den))
    except ValueError:
        raise argparse.ArgumentTypeError(f"must look like 4/4 or 3/4, got {text!r}") from None
    if value[0] < 1 or value[1] not in (1, 2, 4, 8, 16, 32):
        raise argparse.ArgumentTypeError(f"must be N/1..N/32, got {text!r}")
    return value


def add_arguments(parser) -> None:
    parser.add_argument("-n", type=count, default=8, help="how many melodies (default 8)")
    parser.add_argument("--bars", type=count, default=4, help="bars per melody (default 4)")
    parser.add_argument("--meter", type=meter, default=(4, 4), help="time signature, e.g. 3/4 (default 4/4)")
    parser.add_argument("--tempo", type=float, default=120.0, help="quarter notes per minute (default 120)")
    parser.add_argument("--temperature", type=float, default=0.5,
                        help="decoding temperature: 0 takes the most likely step, higher is wilder (default 0.5)")
    add_common_arguments(parser)


def run(args) -> int:
    from ..errors import UserError

    if not args.temperature >= 0 or not args.tempo > 0:
        raise UserError("--temperature must be >= 0 and --tempo > 0")
    vae = load_model(args)
    melodies = vae.sample(args.n, rng_of(args), bars=args.bars, time_signature=args.meter, tempo=args.tempo,
                          temperature=args.temperature)
    named = {f"sample-{i + 1:02d}": melody for i, melody in enumerate(melodies)}
    write_outputs(args.out, named, "samples.png",
                  f"{args.n} samples, {args.bars} bars of {args.meter[0]}/{args.meter[1]}, temperature "
                  f"{args.temperature:g}")
    return 0
