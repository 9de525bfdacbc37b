"""Safe reading of vendor ZIP drops: refuse entries that could escape a folder, encrypted
entries, repeated names, and archives that expand past a configured size — before reading any
member; then read members so that damaged bytes are a refusal naming the archive and member,
never a raw zipfile, zlib or OS error."""

from __future__ import annotations

import io
import lzma
import re
import zipfile
import zlib
from pathlib import Path
from typing import IO

_DRIVE = re.compile(r"[A-Za-z]:")

# What a damaged archive raises from zipfile while its directory or a member is read: a corrupt
# header or CRC (BadZipFile), a broken stream (zlib.error, EOFError, LZMAError, and OSError from
# bz2 or a seek to a corrupt offset), a compression method or flag zipfile does not support
# (NotImplementedError), a member name not valid in its declared encoding (UnicodeDecodeError).
DAMAGED_ZIP_ERRORS: tuple[type[Exception], ...] = (
    zipfile.BadZipFile,
    zlib.error,
    EOFError,
    lzma.LZMAError,
    OSError,
    NotImplementedError,
    UnicodeDecodeError,
)


def open_checked_zip(
    zip_path: Path, max_uncompressed_bytes: int, error: type[Exception], expected: str
) -> zipfile.ZipFile:
    """Open `zip_path` after checking every member name and the total expanded size.

    Problems raise `error` with a message naming the archive; `expected` says what the archive
    should have been (e.g. "a OneRoster CSV bundle")."""
    archive = Path(zip_path).name
    try:
        zf = zipfile.ZipFile(zip_path)
    except DAMAGED_ZIP_ERRORS as exc:
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


def open_member(zf: zipfile.ZipFile, member: str, label: str, error: type[Exception]) -> IO[bytes]:
    """A buffered binary stream of one member (``peek`` works). Damaged bytes, whether found
    when the member is opened or while it is read, raise `error` with a message starting with
    `label` (e.g. ``drop.zip!scores.csv``); errors of the caller's own code pass unchanged."""
    try:
        raw = zf.open(member)
    except DAMAGED_ZIP_ERRORS as exc:
        raise error(f"{label}: could not be read from the archive (damaged ZIP entry): {exc}") from None
    return io.BufferedReader(_CheckedMember(raw, label, error), buffer_size=1 << 16)


class _CheckedMember(io.RawIOBase):
    """Reads a zip member, turning the archive's damage into the caller's refusal error."""

    def __init__(self, raw: IO[bytes], label: str, error: type[Exception]):
        super().__init__()
        self._raw = raw
        self._label = label
        self._error = error

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        try:
            data = self._raw.read(len(buffer))
        except DAMAGED_ZIP_ERRORS as exc:
            raise self._error(f"{self._label}: could not be decompressed (damaged ZIP entry): {exc}") from None
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        try:
            self._raw.close()
        finally:
            super().close()
