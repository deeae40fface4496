"""io: reading and writing files.

Readers take a FILENAME (usually an IIP) and send what the file holds, in order;
writers take a FILENAME and write one line per IP (``'-'`` is standard output). A file
that cannot be opened or read fails the process with a :class:`FileAccessError` that
names the file, the port and the likely fix. Relative paths start from the working
directory.
"""

from ._files import FileAccessError
from ._read import ReadCSV, ReadJSONLines, ReadLines
from ._write import WriteJSONLines, WriteLines

__all__ = (
    "FileAccessError",
    "ReadCSV",
    "ReadJSONLines",
    "ReadLines",
    "WriteJSONLines",
    "WriteLines",
)
