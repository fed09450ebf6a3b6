#!/usr/bin/env bash
# One-time set-up, safe to re-run: system packages where missing, then a virtual environment.
#   bash scripts/setup.sh [VENV]        (the Makefile calls this before `make demo` and `make test`)
# System packages: FluidSynth, a General MIDI soundfont, the JACK server, PortAudio, jack_midi_clock.
# Debian/Ubuntu: installed with apt-get (as root, or through sudo). Elsewhere the script names them.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${1:-.venv}
PYTHON=${PYTHON:-python3}

have_lib() { ldconfig -p 2>/dev/null | grep -q "$1"; }
have_soundfont() { compgen -G "/usr/share/sounds/sf2/*.sf2" >/dev/null || compgen -G "/usr/share/soundfonts/*.sf2" >/dev/null; }

missing_debian_packages() {
    local pkgs=()
    command -v jackd >/dev/null || pkgs+=(jackd2)
    have_lib libjack.so || pkgs+=(libjack-jackd2-0)
    have_lib libfluidsynth.so || pkgs+=(libfluidsynth3)
    command -v fluidsynth >/dev/null || pkgs+=(fluidsynth)
    have_lib libportaudio.so || pkgs+=(libportaudio2)
    have_soundfont || pkgs+=(timgm6mb-soundfont)
    # a third-party MIDI clock on JACK: tests/test_studio.py follows it
    command -v jack_midi_clock >/dev/null || pkgs+=(jack-midi-clock)
    echo "${pkgs[@]}"
}

install_system_packages() {
    case "$(uname -s)" in
    Linux)
        if command -v apt-get >/dev/null; then
            local pkgs; pkgs=$(missing_debian_packages)
            [[ -z $pkgs ]] && return 0
            local sudo=""; [[ $(id -u) -ne 0 ]] && sudo="sudo"
            echo "setup: installing system packages: $pkgs"
            $sudo apt-get update -qq
            # jackd2 asks about realtime scheduling; noninteractive keeps the default (no).
            DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends $pkgs >/dev/null
        else
            echo "setup: not a Debian system; install these with your package manager if missing:" \
                 "FluidSynth (libfluidsynth 2.x), a General MIDI .sf2 soundfont, JACK 2 (jackd), PortAudio," \
                 "jack_midi_clock (for the tests)." >&2
        fi ;;
    Darwin)
        command -v fluidsynth >/dev/null || echo "setup: on macOS run: brew install fluid-synth portaudio" \
            "and download a General MIDI soundfont (e.g. GeneralUser GS) to ~/Library/Audio/Sounds/Banks/" >&2 ;;
    *)  echo "setup: unknown system $(uname -s); install FluidSynth, a GM soundfont and PortAudio yourself" >&2 ;;
    esac
}

# The stamp records what the environment was built from, so a re-run with nothing changed is instant.
stamp_value=$(cat pyproject.toml scripts/setup.sh | cksum | cut -d' ' -f1)
stamp="$VENV/.liveimpro-setup"
install_system_packages
if [[ -f $stamp && $(cat "$stamp") == "$stamp_value" ]]; then
    exit 0
fi
[[ -x $VENV/bin/python ]] || "$PYTHON" -m venv "$VENV"
# torch first and pinned: an unpinned torch would pull the CUDA build (gigabytes) on Linux.
"$VENV/bin/python" -m pip install -q torch==2.13.0
"$VENV/bin/python" -m pip install -q -e ".[dev]"
echo "$stamp_value" > "$stamp"
echo "setup: environment ready in $VENV"
