"""`liveimpro ports`: the MIDI backend in use and the ports liveimpro can listen to and play to."""
from __future__ import annotations

import json

from ..midi.ports import DISPLAY_NAMES, add_api_argument, list_ports


def add_arguments(parser) -> None:
    add_api_argument(parser)
    parser.add_argument("--json", action="store_true",
                        help='print {"api", "backend", "inputs", "outputs"} as JSON')


def run(args) -> int:
    api, inputs, outputs = list_ports(args.api)
    if args.json:
        print(json.dumps({"api": api, "backend": DISPLAY_NAMES[api], "inputs": inputs, "outputs": outputs},
                         indent=2))
        return 0
    print(f"MIDI backend: {DISPLAY_NAMES[api]}")
    for title, ports in (("inputs (ports liveimpro can listen to)", inputs),
                         ("outputs (ports liveimpro can play to)", outputs)):
        print(f"{title}:")
        for port in ports or ["(none)"]:
            print(f"  {port}")
    return 0
