"""OTA client: verify a signed manifest, download the blob in resumable CRC-checked chunks,
stage it through the slot manager, boot it with its self-test, confirm or revert. Every step
is reported as a ``kind="ota"`` status.

Replay protection: the rollout manager binds every manifest it sends to one group or device
until an expiry and lists the revoked (halted, rolled back) releases, then signs it again
(``RolloutGrant``). The device refuses a manifest without such a grant, for another audience,
expired, or of a revoked release; the newest grant it verified sets the revoked releases (its
clock must be set, e.g. by SNTP, for the expiry to hold)."""

from __future__ import annotations

import logging
import threading
import time
import zlib
from typing import TYPE_CHECKING

from contract.errors import SignatureError, ValidationError
from contract.schemas import OtaProgress, ReleaseManifest, parse_release_manifest
from contract.schemas.chunks import ChunkRequest, parse_chunk
from contract.signing import verify
from contract.topics import CHUNK_RE, MANIFEST_RE, chunk_request_topic
from edge_agent.errors import EngineError, OtaRefused

if TYPE_CHECKING:
    from edge_agent.agent import Agent

log = logging.getLogger(__name__)

# The device refuses the blob itself (another format or tokenizer version): no retry helps.
REFUSED_BLOB = frozenset({"TL_ERR_UNSUPPORTED", "TL_ERR_UNSUPPORTED_TOKENIZER", "TL_ERR_BAD_MAGIC"})


def _firmware_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in version.split("."))


class OtaClient:
    def __init__(self, agent: Agent) -> None:
        self.agent = agent
        self.settings = agent.settings
        self.manifest: ReleaseManifest | None = None  # the release being downloaded
        self.offset = 0  # bytes written to the slot so far (resume point)
        self.failures = 0  # consecutive bad chunks
        self.requested_at = 0.0
        self.last_result: str | None = None  # last terminal step: confirmed/reverted/rejected
        self.grant_issued = float("-inf")  # issue time of the newest rollout grant seen
        self.revoked: frozenset[int] = frozenset()  # releases that grant revoked
        self.done = threading.Event()  # set on every terminal step
        self._lock = threading.RLock()

    # -- inbound --------------------------------------------------------------------------

    def on_message(self, topic: str, payload: bytes) -> None:
        if MANIFEST_RE.match(topic):
            self.on_manifest(payload)
        elif CHUNK_RE.match(topic):
            self.on_chunk(payload)

    def on_manifest(self, payload: bytes) -> None:
        with self._lock:
            try:
                manifest = parse_release_manifest(payload)
            except ValidationError as exc:
                self._finish("rejected", 0, f"invalid manifest: {exc.reason}")
                return
            running = self.agent.model_version
            again = manifest.version == running or (
                self.manifest is not None and manifest.version == self.manifest.version
            )  # the retained manifest again (reconnect, renewed grant) or already downloading
            try:
                self.verify_signature(manifest)
            except OtaRefused as exc:
                if not again:
                    self._finish("rejected", manifest.version, str(exc))
                return
            self._learn_revocations(manifest)  # also from a manifest it will not install
            if again:
                return
            try:
                self.verify(manifest, running)
                self._check_grant(manifest)
                self.agent.device.begin(
                    manifest.version, manifest.size, bytes.fromhex(manifest.sha256)
                )
            except (OtaRefused, EngineError) as exc:
                self._finish("rejected", manifest.version, str(exc))
                return
            self.manifest, self.offset, self.failures = manifest, 0, 0
            self._report("manifest_received")
            self.request()

    def verify_signature(self, manifest: ReleaseManifest) -> None:
        """Raise OtaRefused unless the manifest is signed by the trusted key."""
        try:
            verify(manifest, self.settings.trusted_key)
        except SignatureError as exc:
            unsigned = manifest.signature is None
            raise OtaRefused("unsigned manifest" if unsigned else "bad signature") from exc

    def verify(self, manifest: ReleaseManifest, running: int) -> None:
        """Raise OtaRefused unless the (signed) manifest fits this device."""
        if manifest.target != self.settings.target:
            raise OtaRefused(f"target {manifest.target!r} is not {self.settings.target!r}")
        if manifest.version <= max(running, self.agent.device.state().floor_version):
            raise OtaRefused(f"version {manifest.version} is not newer than {running}")
        if _firmware_tuple(manifest.min_firmware) > _firmware_tuple(self.settings.firmware_version):
            raise OtaRefused(f"needs firmware {manifest.min_firmware}")

    def _learn_revocations(self, manifest: ReleaseManifest) -> None:
        """A signed grant newer than the last one seen replaces the revoked releases; a
        download of a release it revokes stops."""
        grant = manifest.rollout
        if grant is None or grant.issued <= self.grant_issued:
            return
        self.grant_issued, self.revoked = grant.issued, frozenset(grant.revoked)
        downloading = self.manifest
        if downloading is not None and downloading.version in self.revoked:
            self.manifest = None
            self._finish("rejected", downloading.version, "release revoked by the rollout")

    def _check_grant(self, manifest: ReleaseManifest) -> None:
        """Replay protection: the signed grant must name this device or its group, not be
        expired, and the release must not be revoked."""
        grant = manifest.rollout
        if grant is None:
            raise OtaRefused("manifest has no rollout grant (not sent by the rollout manager)")
        audience = grant.group if grant.group is not None else grant.device_id
        if audience not in (self.settings.group, self.settings.device_id):
            raise OtaRefused(f"rollout {grant.rollout_id} is for {audience!r}, not this device")
        if self.agent.clock() >= grant.expires:
            raise OtaRefused(f"rollout {grant.rollout_id} expired")
        if manifest.version in self.revoked or manifest.version in grant.revoked:
            raise OtaRefused(f"release {manifest.version} was revoked")

    def on_chunk(self, payload: bytes) -> None:
        with self._lock:
            manifest = self.manifest
            if manifest is None:
                return
            try:
                chunk = parse_chunk(payload)
                data = chunk.data()
            except (ValidationError, ValueError):  # ValueError: bad base64 padding
                self._bad_chunk("malformed chunk")
                return
            if chunk.version != manifest.version or chunk.offset != self.offset:
                return  # a late duplicate of an earlier request
            if chunk.total != manifest.size or zlib.crc32(data) != chunk.crc32:
                self._bad_chunk(f"chunk at {chunk.offset} fails its CRC")
                return
            try:
                self.agent.device.write_chunk(chunk.offset, data, chunk.crc32)
            except EngineError as exc:
                if exc.status in REFUSED_BLOB:
                    self.manifest = None
                    self._finish("rejected", manifest.version, str(exc))
                else:
                    self._bad_chunk(str(exc))
                return
            self.failures = 0
            self.offset += len(data)
            if self.offset < manifest.size:
                self._report("downloading", self.offset / manifest.size)
                self.request()
                return
            self._install(manifest)

    def _bad_chunk(self, reason: str) -> None:
        self.failures += 1
        if self.failures >= self.settings.max_chunk_failures:
            version = self.manifest.version if self.manifest else 0
            self.manifest = None
            self._finish("rejected", version, f"{reason} ({self.failures} times)")
        else:
            self.request()  # the same offset again

    def _install(self, manifest: ReleaseManifest) -> None:
        self.manifest = None
        try:
            self.agent.device.finish()
        except EngineError as exc:
            self._finish("rejected", manifest.version, str(exc))
            return
        self._report("verified", 1.0, manifest.version)
        self._report("staged", 1.0, manifest.version)
        self._report("self_test", 1.0, manifest.version)
        try:
            running = self.agent.device.boot()
        except EngineError as exc:
            self._finish("reverted", manifest.version, str(exc))
            return
        if running == manifest.version:
            self._finish("confirmed", manifest.version)
        else:
            self._finish("reverted", manifest.version, "self-test failed; old model kept")

    # -- outbound -------------------------------------------------------------------------

    def request(self) -> None:
        manifest = self.manifest
        if manifest is None:
            return
        length = min(self.settings.chunk_size, manifest.size - self.offset)
        request = ChunkRequest(version=manifest.version, offset=self.offset, length=length)
        self.requested_at = time.monotonic()
        self.agent.transport.publish(
            chunk_request_topic(self.settings.device_id), request.to_bytes(), qos=1
        )

    def resume(self) -> None:
        """After a reconnect: ask again from the last good offset."""
        with self._lock:
            self.request()

    def tick(self) -> None:
        with self._lock:
            if (
                self.manifest
                and time.monotonic() - self.requested_at > self.settings.chunk_timeout_s
            ):
                self.request()

    def _report(self, step: str, progress: float = 0.0, version: int | None = None) -> None:
        if version is None:
            version = self.manifest.version if self.manifest else 0
        ota = OtaProgress(release_version=version, step=step, progress=progress)  # type: ignore[arg-type]
        self.agent.publish_status("ota", ota=ota)

    def _finish(self, step: str, version: int, reason: str | None = None) -> None:
        if reason:
            log.warning("OTA %s for version %s: %s", step, version, reason)
        ota = OtaProgress(
            release_version=version, step=step,  # type: ignore[arg-type]
            progress=1.0 if step == "confirmed" else 0.0,
            reason=reason[:200] if reason else None,
        )  # fmt: skip
        self.agent.publish_status("ota", ota=ota)
        self.last_result = step
        self.done.set()
