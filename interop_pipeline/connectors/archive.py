"""Safe reading of vendor ZIP drops: refuse entries that could escape a folder, encrypted
entries, repeated names, and archives that expand past a configured size — before reading any
member."""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

_DRIVE = re.compile(r"[A-Za-z]:")


def open_checked_zip(
    zip_path: Path, max_uncompressed_bytes: int, error: type[Exception], expected: str
) -> zipfile.ZipFile:
    """Open `zip_path` after checking every member name and the total expanded size.

    Problems raise `error` with a message naming the archive; `expected` says what the archive
    should have been (e.g. "a OneRoster CSV bundle")."""
    archive = Path(zip_path).name
    try:
        zf = zipfile.ZipFile(zip_path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise error(f"{archive}: is not a readable ZIP archive (expected {expected}): {exc}") from None
    try:
        infos = zf.infolist()
        check_member_names(infos, archive, error)
        check_expanded_size(infos, archive, max_uncompressed_bytes, error)
    except BaseException:
        zf.close()
        raise
    return zf


def check_member_names(infos: list[zipfile.ZipInfo], archive: str, error: type[Exception]) -> None:
    seen: set[str] = set()
    for info in infos:
        name = info.filename
        parts = name.rstrip("/").split("/")
        unsafe = (
            name.startswith("/")
            or "\\" in name
            or _DRIVE.match(name) is not None
            or any(part in ("..", "") for part in parts)
        )
        if unsafe:
            raise error(
                f"{archive}: member {name!r} has an unsafe path (absolute, drive letter, "
                "backslash or '..'); expected plain file names at the archive root. "
                "Refusing the whole archive."
            )
        if name in seen:
            raise error(f"{archive}: member {name!r} appears more than once")
        seen.add(name)
        if info.flag_bits & 0x1:
            raise error(f"{archive}: member {name!r} is encrypted; expected plain files")


def check_expanded_size(infos: list[zipfile.ZipInfo], archive: str, limit: int, error: type[Exception]) -> None:
    # Declared sizes are trustworthy enough: zipfile never returns more than file_size bytes.
    total = sum(info.file_size for info in infos)
    if total > limit:
        raise error(f"{archive}: uncompressed size {total} bytes exceeds the limit of {limit} bytes")
