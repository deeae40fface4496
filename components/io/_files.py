"""Opening files for the io components, with errors that name the file and the port."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import IO, Any, Literal

from fbp import EndOfStream, InPort, WouldBlock

__all__ = ("STDOUT", "FileAccessError", "decode_error", "open_text", "stdout_reader_gone")

#: The file name that means standard output (writers only).
STDOUT = "-"


class FileAccessError(OSError):
    """A file given to an io component cannot be opened, read or written.

    Attributes:
        path: the file name as given.
        port: the address of the port that named it (``Read.FILENAME``).
    """

    def __init__(self, path: str, port: str, message: str) -> None:
        super().__init__(f"{port}: {message}")
        self.path = path
        self.port = port


def _hint(e: OSError, path: Path, mode: Literal["r", "w"]) -> str:
    if isinstance(e, FileNotFoundError):
        if mode == "w":
            return f"create the folder {str(path.parent)!r} first"
        return f"check the path (a relative path starts from {os.getcwd()!r})"
    if isinstance(e, IsADirectoryError):
        return "give the path of a file, not of a folder"
    if isinstance(e, PermissionError):
        return "check the permissions of the file and its folder"
    return ""


def open_text(
    path: str,
    port: str,
    mode: Literal["r", "w"],
    encoding: str = "utf-8",
    *,
    translate_newlines: bool = True,
) -> IO[str]:
    """Open a text file for reading or writing (``-`` writes to standard output).

    Reading translates ``\r\n`` and ``\r`` to ``\n`` unless ``translate_newlines`` is
    false (the csv module reads line endings itself); writing never translates.

    Raises:
        FileAccessError: the file cannot be opened; the message names it, says why and
            suggests a fix.
    """
    if mode == "w" and path == STDOUT:
        return sys.stdout
    p = Path(path)
    try:
        newline = None if mode == "r" and translate_newlines else ""
        return open(p, mode, encoding=encoding, newline=newline)
    except LookupError:
        msg = f"unknown text encoding {encoding!r} for {path!r}; e.g. 'utf-8' or 'latin-1'"
        raise FileAccessError(path, port, msg) from None
    except OSError as e:
        verb = "read" if mode == "r" else "write"
        hint = _hint(e, p, mode)
        msg = f"cannot {verb} {path!r}: {e.strerror or e}" + (f"; {hint}" if hint else "")
        raise FileAccessError(path, port, msg) from e


def decode_error(path: str, port: str, line: int, encoding: str) -> FileAccessError:
    """The error for a line that is not valid text in ``encoding``."""
    msg = f"{path}:{line}: not valid {encoding} text; give the file's encoding on the ENCODING port"
    return FileAccessError(path, port, msg)


def stdout_reader_gone(inp: InPort[Any]) -> None:
    """Standard output's reader has gone (``fbp run ... | head -1``): a normal end for a
    process that writes there, as when every receiver of a port has gone.

    Standard output is pointed at the null device, so that what is still buffered, and
    anything written later, goes nowhere instead of failing again when it is flushed;
    what is buffered on ``inp`` is taken, so that ending lets it go without a warning.
    """
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # no file descriptor behind it (a test's capture)
        pass
    finally:
        os.close(devnull)
    while True:
        try:
            inp.receive_nowait()
        except (WouldBlock, EndOfStream):
            return
