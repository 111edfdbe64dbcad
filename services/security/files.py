"""Files that hold secrets: created 0600 inside 0700 folders, never readable by anyone else.

A file is written to a temporary name opened with ``O_CREAT | O_EXCL`` and mode 0600 (so
it is private from its first byte, and an attacker's file or link at that name makes the
write fail instead of being followed), synced, then renamed over the target.
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

from models.errors import ConfigError


def private_dir(path: Path) -> Path:
    """``path`` as a folder only its owner can enter (created 0700; tightened if wider)."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    info = path.stat()
    if info.st_uid != os.getuid():
        raise ConfigError(f"{path} belongs to another user (uid {info.st_uid}); not using it")
    if stat.S_IMODE(info.st_mode) & 0o077:
        path.chmod(0o700)
    return path


def write_private(path: Path, data: bytes) -> None:
    """Replace ``path`` atomically with ``data``, mode 0600, in a 0700 folder."""
    private_dir(path.parent)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()  # left by a crashed earlier write of this pid
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def create_private(path: Path, data: bytes) -> bool:
    """Write ``data`` to a new 0600 file; False (and nothing written) when it exists."""
    private_dir(path.parent)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    except FileExistsError:
        return False
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return True


def read_private(path: Path) -> bytes:
    """The contents of a secret file; refused when others may read or write it.

    A file of our own must be 0600 or stricter. One that a platform mounted for us (owned
    by another user, e.g. a Kubernetes Secret whose group is the pod's ``fsGroup``) may be
    group-readable, never world-readable or writable by anyone but its owner.
    """
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from exc
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        mode = stat.S_IMODE(info.st_mode)
        too_open = 0o077 if info.st_uid == os.getuid() else 0o027
        if mode & too_open:
            raise ConfigError(
                f"{path} is readable or writable by others (mode {mode:04o}); "
                f"`chmod 600 {path}` and check who read it"
            )
        return handle.read()
