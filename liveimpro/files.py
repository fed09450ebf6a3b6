"""One home for the small file chores every part shares.

    atomic_write(path, write)     write a temporary file, then rename: never half a file under the real name
    read_json(path)               a model folder's JSON, or ModelError naming the file (one line)
    write_json(path, data)        atomically, indented for people
    read_limited(path, limit)     a file's bytes, MidiFileError past `limit` (a device or a huge file never fills memory)
    midi_file_error(path, why)    the one-line MidiFileError 'path: why' the commands print
    one_line(text), first_line(error), sha256_of(path)
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from .errors import MidiFileError, ModelError


def first_line(error: Exception) -> str:
    """The first sentence of an error: torch's messages go on for lines of advice."""
    text = str(error).strip()
    return text.splitlines()[0].split(". ")[0].rstrip(".") if text else type(error).__name__


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def atomic_write(path: Path, write) -> None:
    """`write(temporary path)`, then rename: a crash while writing never leaves half a file under the
    real name. The temporary file is hidden, in the same folder (a rename never crosses file systems),
    named by process (workers writing one cache file never share one), and removed if writing fails."""
    path = Path(path)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        write(temporary)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def read_json(path: Path):
    """A JSON file of a model folder; ModelError naming the file when it cannot be read or parsed."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise ModelError(f"{path}: cannot read ({error.strerror or error})") from None
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as error:
        raise ModelError(f"{path}: not a JSON file ({first_line(error)})") from None


def write_json(path: Path, data) -> None:
    """Atomically, indented: the folder's JSON files are meant to be read by people too."""
    atomic_write(path, lambda p: p.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8"))


def one_line(text) -> str:
    """`text` as one printable line: runs of whitespace (line breaks included) become one space, and
    what still cannot be printed is escaped (a hostile file name, a parser quoting binary bytes)."""
    text = " ".join(str(text).split())
    return text if text.isprintable() else ascii(text)[1:-1]


def read_limited(path, limit: int) -> bytes:
    """A regular file's bytes, MidiFileError if it is not one or holds more than `limit` bytes
    (read no further: a device or a huge file never fills the memory)."""
    path = Path(path)
    try:
        if path.is_dir():
            raise midi_file_error(path, "is a folder, not a file")
        if path.exists() and not path.is_file():
            raise midi_file_error(path, "not a regular file")
        with open(path, "rb") as f:
            data = f.read(limit + 1)
    except FileNotFoundError:
        raise midi_file_error(path, "no such file") from None
    except OSError as error:
        raise midi_file_error(path, f"cannot read ({error.strerror or error})") from None
    if len(data) > limit:
        raise midi_file_error(path, f"too large: more than the {limit} bytes read here")
    return data


def midi_file_error(path, reason: str) -> MidiFileError:
    """A MidiFileError whose message is 'path: reason', one line; both parts kept as attributes for reports."""
    error = MidiFileError(f"{one_line(path)}: {one_line(reason)}")
    error.path, error.reason = str(path), one_line(reason)
    return error


__all__ = ["first_line", "sha256_of", "atomic_write", "read_json", "write_json", "one_line", "read_limited", "midi_file_error"]
