"""Files that hold secrets (the release signing key) or what devices trust (its public half):
created once, atomically, and never replaced.

:func:`create_file` writes the bytes to a temporary file opened with ``O_CREAT | O_EXCL`` and
its final mode from the first byte (0600 for a secret: no moment where another user can read
it), flushes it to disk, then hard-links it to its name. ``link`` fails when the name exists,
so a file is never overwritten, and a reader sees either no file or the whole file, also when
two processes create the same key at once (the loser reads the winner's). The folder is made
0700, and an existing folder open to group or others is narrowed to 0700.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

from services.errors import ServiceError

SECRET_MODE = 0o600
PUBLIC_MODE = 0o644
FOLDER_MODE = 0o700


class SecretFileError(ServiceError):
    """A secret file or its folder cannot be created or has unsafe permissions."""


def private_folder(folder: Path) -> Path:
    """``folder``, created 0700 if missing; narrowed to 0700 if group or others may enter."""
    try:
        folder.mkdir(mode=FOLDER_MODE, parents=True, exist_ok=True)
        if folder.stat().st_mode & 0o077:
            folder.chmod(FOLDER_MODE)
    except OSError as exc:
        raise SecretFileError(f"cannot make {folder} a private (0700) folder: {exc}") from exc
    return folder


def create_file(path: Path, data: bytes, mode: int = SECRET_MODE) -> bool:
    """Create ``path`` holding ``data`` with ``mode``; False (nothing written) if it exists."""
    private_folder(path.parent)
    tmp = path.parent / f".{path.name}.{secrets.token_hex(8)}.tmp"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fchmod(fd, mode)  # exactly ``mode``, whatever the umask
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(tmp, path)
        except FileExistsError:
            return False
    except OSError as exc:
        raise SecretFileError(f"cannot create {path}: {exc}") from exc
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    return True
