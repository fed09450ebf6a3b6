"""The flat public API: every name in `liveimpro.__all__` resolves, and importing the package
loads nothing heavy (no torch, music21, matplotlib or rtmidi until a name that needs one is used)."""
import subprocess
import sys

import liveimpro


def test_every_public_name_resolves():
    for name in liveimpro.__all__:
        assert getattr(liveimpro, name) is not None, name
    assert sorted(liveimpro.__all__) == dir(liveimpro)


def test_an_unknown_name_is_an_attribute_error():
    try:
        liveimpro.NoSuchThing  # noqa: B018
    except AttributeError as error:
        assert str(error) == "module 'liveimpro' has no attribute 'NoSuchThing'"
    else:
        raise AssertionError("no AttributeError")


def test_importing_the_package_loads_nothing_heavy():
    code = ("import sys, liveimpro; heavy = [m for m in ('torch', 'music21', 'matplotlib', 'rtmidi') if m in sys.modules];"
            "print(','.join(heavy))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == ""
