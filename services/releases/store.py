"""Where released model blobs live, shared by the distiller (writes) and the rollout manager
(reads, serves chunks). ``model.releases`` carries only the signed manifest; the bytes it
describes are here, written before the manifest is published (the next hop has the data).

Layout under ``root`` (one folder per release version)::

    <root>/<version>/manifest.json   the signed manifest, exactly as published
    <root>/<version>/model.blob      the integer model blob the manifest's sha256 covers
    <root>/<version>/student/        optional: the float student the blob was exported from
                                     (the distiller continues training from it)

A release folder appears atomically (written under a temporary name, then renamed), so a
reader never sees half a release. A production deployment would put this behind an object
store with the same three operations; the folder is what one machine needs.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path

from contract.errors import ValidationError
from contract.schemas import ReleaseManifest, parse_release_manifest
from services.errors import ServiceError


class ReleaseStoreError(ServiceError):
    """A release is missing, incomplete, or its bytes do not match its manifest."""


class ReleaseStore:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def _dir(self, version: int) -> Path:
        if version < 1:
            raise ReleaseStoreError(f"release versions start at 1, got {version}")
        return self.root / str(version)

    def put(self, manifest: ReleaseManifest, blob: bytes, student_dir: Path | None = None) -> Path:
        """Store one release; refuses a blob that does not match the manifest, and a
        version that already holds different bytes. Storing the same release twice is a
        no-op (a retried publish)."""
        digest = hashlib.sha256(blob).hexdigest()
        if digest != manifest.sha256 or len(blob) != manifest.size:
            raise ReleaseStoreError(
                f"release {manifest.version}: blob sha256 {digest} / {len(blob)} B does not "
                f"match the manifest's {manifest.sha256} / {manifest.size} B"
            )
        final = self._dir(manifest.version)
        if final.exists():
            if self.manifest(manifest.version).sha256 != digest:
                raise ReleaseStoreError(
                    f"release {manifest.version} already exists with different bytes"
                )
            return final
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{manifest.version}-", dir=self.root))
        try:
            (tmp / "model.blob").write_bytes(blob)
            (tmp / "manifest.json").write_bytes(manifest.to_bytes())
            if student_dir is not None:
                shutil.copytree(student_dir, tmp / "student")
            for path in tmp.rglob("*"):
                if path.is_file():
                    with path.open("rb") as f:
                        os.fsync(f.fileno())
            os.rename(tmp, final)
        except FileExistsError as exc:  # a concurrent writer won; same checks apply
            shutil.rmtree(tmp, ignore_errors=True)
            if self.manifest(manifest.version).sha256 != digest:
                raise ReleaseStoreError(
                    f"release {manifest.version} already exists with different bytes"
                ) from exc
        except OSError as exc:
            shutil.rmtree(tmp, ignore_errors=True)
            raise ReleaseStoreError(f"cannot store release {manifest.version}: {exc}") from exc
        return final

    def manifest(self, version: int) -> ReleaseManifest:
        path = self._dir(version) / "manifest.json"
        try:
            return parse_release_manifest(path.read_bytes())
        except FileNotFoundError as exc:
            raise ReleaseStoreError(f"no release {version} in {self.root}") from exc
        except ValidationError as exc:
            raise ReleaseStoreError(f"release {version}: bad manifest: {exc.reason}") from exc

    def blob(self, version: int) -> bytes:
        """The release's blob, checked against its manifest's sha256."""
        manifest = self.manifest(version)
        try:
            data = (self._dir(version) / "model.blob").read_bytes()
        except FileNotFoundError as exc:
            raise ReleaseStoreError(f"release {version} has no model.blob") from exc
        if hashlib.sha256(data).hexdigest() != manifest.sha256:
            raise ReleaseStoreError(f"release {version}: model.blob does not match its sha256")
        return data

    def student_dir(self, version: int) -> Path | None:
        """The float student of the release, when the distiller stored one."""
        path = self._dir(version) / "student"
        return path if path.is_dir() else None

    def versions(self) -> list[int]:
        """Every complete release, oldest first."""
        if not self.root.is_dir():
            return []
        return sorted(
            int(p.name)
            for p in self.root.iterdir()
            if p.name.isdigit() and (p / "manifest.json").is_file()
        )

    def latest(self) -> int | None:
        versions = self.versions()
        return versions[-1] if versions else None
