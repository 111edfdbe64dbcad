"""The rollout manager: turns release manifests, device reports and ops commands into
rollout transitions (``machine.py``) and carries out their actions through the adapters.

Inputs (each handler is idempotent, so at-least-once delivery is safe):

- ``model.releases``: a signed manifest. Accepted only when its Ed25519 signature verifies
  against the trusted ``release.pub`` and the :class:`ReleaseStore` holds the very blob it
  describes (same sha256 and size); anything else is logged and counted as refused. A new
  release supersedes an unfinished older one and, with ``auto_start``, starts its first stage.
- ``fleet.device-status``: a device's OTA outcome (confirmed / reverted / rejected) for a
  release, or a heartbeat/boot showing it runs the release (counted as confirmed).
- ``ops.commands``: Rollout (start or resume; ``groups`` replaces the stage order,
  ``canary_fraction`` is not used: a stage is a whole group), Halt, Rollback; each
  ``command_id`` is acted on once (the ids applied are kept in the records), and commands
  older than ``max_command_age_s`` are ignored.

Outputs: the retained group manifest (``ManifestPublisher``), the chunks of every release in
flight (``ChunkServer``), the durable state (``StateStore``), roll-forward releases
(``ReleaseAnnouncer`` + the store; see ``rollback.py``) and metrics.

Halting stops advancing and restores the halted group's retained manifest to the last release
that passed there (or clears it), so a device that reconnects does not pick the halted
release up again; groups whose stage never started were never sent it. A failure halt with
``auto_rollback`` builds a roll-forward release of the last completed release's weights and
rolls it out to every group that was sent the failed release.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from contract.errors import SignatureError, ValidationError
from contract.schemas import (
    DeviceStatus,
    ReleaseManifest,
    parse_device_status,
    parse_release_manifest,
)
from contract.schemas.rollout import DeviceOutcome, RolloutRecord
from contract.signing import bind, verify
from services.releases.announce import AnnounceError, ReleaseAnnouncer
from services.releases.store import ReleaseStore, ReleaseStoreError
from services.rollout import commands, machine
from services.rollout.adapters import ManifestPublisher, RolloutIOError, StateStore
from services.rollout.chunks import ChunkServer
from services.rollout.machine import Action, Halted, Publish, RolloutError
from services.rollout.metrics import RolloutMetrics
from services.rollout.rollback import RollbackError, build_rollback
from services.rollout.settings import RolloutSettings

log = logging.getLogger(__name__)

OUTCOMES: dict[str, DeviceOutcome] = {
    "confirmed": "confirmed", "reverted": "reverted", "rejected": "rejected",
}  # fmt: skip


class RolloutManager:
    def __init__(
        self,
        settings: RolloutSettings,
        store: ReleaseStore,
        trusted_key: bytes,
        signing_key: Ed25519PrivateKey,
        device_groups: Mapping[str, str],
        publisher: ManifestPublisher,
        state: StateStore,
        release_sink: ReleaseAnnouncer,
        chunks: ChunkServer,
        metrics: RolloutMetrics,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.store = store
        self.trusted_key = trusted_key
        self.signing_key = signing_key
        self.device_groups = dict(device_groups)  # device id -> group (the registry)
        self.publisher = publisher
        self.state = state
        self.release_sink = release_sink
        self.chunks = chunks
        self.metrics = metrics
        self.clock = clock
        self.records: dict[int, RolloutRecord] = {}
        self.seen: dict[str, float] = {}  # device id -> when it last reported
        self.dirty: set[int] = set()  # versions changed since the last flush
        self.published: dict[str, tuple[int, float]] = {}  # group -> retained version, when
        for topic in (settings.releases_topic, settings.status_topic, settings.ops_topic):
            metrics.poison.labels(topic)  # exists at zero, so increase() sees the first one

    # -- lifecycle ------------------------------------------------------------------------

    def load(self) -> None:
        """Resume from the persisted state: serve the chunks devices may still ask for."""
        self.records = self.state.load()
        for record in self.records.values():
            self.metrics.record(record)
        for version in sorted(self.needed()):
            try:
                self._hold_blob(version)
            except ReleaseStoreError as exc:
                log.error("cannot serve release %d: %s", version, exc)
        running = set()
        for record in self.records.values():
            if record.status == "in_progress":  # the crash may have come before the PUBACK
                group = record.stages[record.stage].group
                self._publish(group, record.version)
                running.add(group)
        # every other group's retained manifest again, with a fresh grant (an old one expires)
        for spec in self.settings.stages:
            good = machine.last_good(
                [r for r in self.records.values() if r.status != "halted"], spec.group
            )
            if spec.group not in running and good is not None:
                self._publish(spec.group, good)
        log.info("resumed %d rollout records", len(self.records))

    def needed(self) -> set[int]:
        """Releases whose chunks devices may ask for: those in progress, halted (resumable) or
        superseded (a later stage's group may still hold its manifest until the newer release
        gets there) and the one each group's retained manifest names (devices that were
        offline)."""
        records = list(self.records.values())
        unfinished = ("in_progress", "halted", "superseded")
        versions = {r.version for r in records if r.status in unfinished}
        for spec in self.settings.stages:
            good = machine.last_good([r for r in records if r.status != "halted"], spec.group)
            if good is not None:
                versions.add(good)
        return versions

    def flush(self) -> None:
        """Persist every changed record; runs before the consumed inputs are committed."""
        if self.dirty:
            needed = self.needed()
            for version in [v for v in self.chunks.blobs if v not in needed]:
                del self.chunks.blobs[version]  # no retained manifest names it any more
        for version in sorted(self.dirty):
            self.state.save(self.records[version])
            self.metrics.record(self.records[version])
        self.dirty.clear()
        self.metrics.chunks_served.set(self.chunks.served)
        self.metrics.devices_seen.set(sum(len(d) for d in self.active().values()))

    def _put(self, record: RolloutRecord) -> None:
        self.records[record.version] = record
        self.dirty.add(record.version)

    def active(self) -> dict[str, list[str]]:
        """Group -> devices that reported within ``active_window_s``."""
        horizon = self.clock() - self.settings.active_window_s
        groups: dict[str, list[str]] = {}
        for device, ts in self.seen.items():
            if ts >= horizon and device in self.device_groups:
                groups.setdefault(self.device_groups[device], []).append(device)
        return groups

    # -- inputs ---------------------------------------------------------------------------

    def handle(self, topic: str, raw: bytes | None, where: str = "") -> None:
        """One input record of ``topic`` (read at ``where``, for the log).

        A record that makes its handler fail in an unforeseen way is poison: it is counted
        (``fleet_rollout_poison_records_total``), logged and skipped, so its offset is
        committed with the batch instead of stopping the manager and being read again after
        every restart. A failed output (:class:`RolloutIOError`) still stops the loop with the
        inputs uncommitted: that is the broker's fault, not the record's.
        """
        handlers = {
            self.settings.releases_topic: self.on_release,
            self.settings.status_topic: self.on_status,
            self.settings.ops_topic: self.on_command,
        }
        handler = handlers.get(topic)
        if raw is None or handler is None:
            return  # a tombstone, or a topic this manager does not read
        try:
            handler(raw)
        except RolloutIOError:
            raise
        except Exception as exc:  # any other failure is the record's
            self.metrics.poison.labels(topic).inc()
            log.error("poison record %s on %s skipped: %r", where, topic, exc, exc_info=True)

    def on_release(self, raw: bytes) -> None:
        try:
            manifest = parse_release_manifest(raw)
        except ValidationError as exc:
            self._refuse(f"invalid manifest: {exc.reason}")
            return
        if manifest.version in self.records:
            self.metrics.releases.labels("duplicate").inc()
            return
        try:
            self._check_release(manifest)
        except (SignatureError, ReleaseStoreError) as exc:
            self._refuse(str(exc))
            return
        newest = max(self.records, default=0)
        if manifest.version < newest:
            self._refuse(f"release {manifest.version} is older than known release {newest}")
            return
        self.metrics.releases.labels("accepted").inc()
        now = self.clock()
        stages = [(s.group, s) for s in self.settings.stages]
        record = machine.create(manifest.version, stages, now)
        self._put(record)
        log.info("release %d accepted", manifest.version)
        if self.settings.auto_start:
            self._start(manifest.version)

    def _check_release(self, manifest: ReleaseManifest) -> None:
        verify(manifest, self.trusted_key)
        stored = self.store.manifest(manifest.version)
        if (stored.sha256, stored.size) != (manifest.sha256, manifest.size):
            raise ReleaseStoreError(
                f"release {manifest.version}: the store holds other bytes than the manifest says"
            )
        self.store.blob(manifest.version)  # sha256-checked read

    def _refuse(self, reason: str) -> None:
        log.warning("release refused: %s", reason)
        self.metrics.releases.labels("refused").inc()

    def on_status(self, raw: bytes) -> None:
        try:
            status = parse_device_status(raw)
        except ValidationError as exc:
            log.debug("bad device status: %s", exc.reason)
            return
        group = self.device_groups.get(status.device_id)
        if group is None:
            return  # not a registered device
        self.seen[status.device_id] = self.clock()
        version, outcome = self._outcome(status)
        record = self.records.get(version) if version else None
        if record is None or outcome is None:
            return
        updated = machine.observe(record, status.device_id, group, outcome, self.clock())
        if updated is not record:
            self._put(updated)

    @staticmethod
    def _outcome(status: DeviceStatus) -> tuple[int, DeviceOutcome | None]:
        if status.kind == "ota" and status.ota is not None:
            version = status.ota.release_version
            if status.ota.step == "rejected" and status.model_version >= version:
                return version, None  # it runs this release or a newer one: no failure
            return version, OUTCOMES.get(status.ota.step)
        if status.kind in ("boot", "heartbeat"):
            return status.model_version, "confirmed"  # it runs the release
        return 0, None

    def on_command(self, raw: bytes) -> None:
        commands.on_command(self, raw)

    # -- the clock ------------------------------------------------------------------------

    def tick(self) -> None:
        """Judge every rollout in progress at the current time; renew retained manifests
        whose grant is half way to its expiry."""
        now, active = self.clock(), self.active()
        for group, (version, issued) in list(self.published.items()):
            if now - issued >= self.settings.manifest_ttl_s / 2:
                self._publish(group, version)
        for version in sorted(self.records):
            record = self.records[version]
            updated, actions = machine.evaluate(record, now, active)
            if updated is not record:
                self._put(updated)
            self._apply(actions)

    # -- transitions with effects ---------------------------------------------------------

    def _start(self, version: int) -> None:
        for other in list(self.records.values()):
            if other.version < version and other.status in ("in_progress", "pending"):
                self._put(machine.superseded(other, version, self.clock()))
        record, actions = machine.start(self.records[version], self.clock(), self.active())
        self._put(record)
        self._apply(actions)

    def _apply(self, actions: list[Action]) -> None:
        for action in actions:
            if isinstance(action, Publish):
                self._hold_blob(action.version)
                self._publish(action.group, action.version)
            elif isinstance(action, Halted):
                self._on_halted(action)

    def _on_halted(self, halted: Halted) -> None:
        if halted.regression:
            self.metrics.halts.labels("failures").inc()
        elif "timed out" in halted.reason:
            self.metrics.halts.labels("timeout").inc()
        log.warning("release %d halted: %s", halted.version, halted.reason)
        self._restore(halted.group)
        record = self.records[halted.version]
        if halted.regression and self.settings.auto_rollback and record.kind == "release":
            try:
                self.roll_back(halted.version, halted.touched)
            except (RollbackError, RolloutError) as exc:
                log.error("automatic rollback of %d failed: %s", halted.version, exc)

    def _restore(self, group: str) -> None:
        """The group's retained manifest goes back to its last good release (or is cleared)."""
        good = machine.last_good([r for r in self.records.values() if r.status != "halted"], group)
        if good is None:
            self.publisher.publish(group, None)
            self.published.pop(group, None)
        else:
            self._publish(group, good)
        self.metrics.manifests.labels(group).inc()

    def roll_back(self, bad: int, groups: tuple[str, ...], to_version: int | None = None) -> int:
        """Roll ``groups`` forward to a new release carrying earlier weights; its version."""
        try:
            commands.check_groups(self.settings, groups)  # before anything is built or stored
        except RolloutError as exc:
            raise RollbackError(str(exc)) from exc
        good = commands.rollback_target(self, bad, to_version)
        new_version = max([*self.records, *self.store.versions(), bad]) + 1
        manifest = build_rollback(self.store, good, new_version, self.signing_key, bad)
        weights_of = self.records[good].weights_of if good in self.records else good
        order = [s.group for s in self.settings.stages]
        stages = [(g, self.settings.stage(g)) for g in sorted(groups, key=order.index)]
        record = machine.create(
            new_version, stages, self.clock(), kind="rollback", weights_of=weights_of,
            rollback_of=bad,
        )  # fmt: skip
        self._put(record)
        self._put(machine.rolled_back(self.records[bad], new_version, self.clock()))
        self.flush()  # durable before it is announced: our own consumer sees it as known
        try:
            self.release_sink.publish(manifest)
        except AnnounceError as exc:  # an output that failed, like every other one here
            raise RolloutIOError(str(exc)) from exc
        self.metrics.rollbacks.inc()
        log.warning("release %d rolls %s back to the weights of %d", new_version, groups, good)
        for group in machine.touched(self.records[bad]):
            if group != stages[0][0]:  # the first stage's group gets the new release now
                self._restore(group)
        self._start(new_version)
        return new_version

    def _hold_blob(self, version: int) -> None:
        if version not in self.chunks.blobs:
            self.chunks.blobs[version] = self.store.blob(version)

    def revoked(self) -> set[int]:
        """Releases devices must refuse from now on: halted or rolled back."""
        return {v for v, r in self.records.items() if r.status in ("halted", "rolled_back")}

    def _publish(self, group: str, version: int) -> None:
        """Retain ``version``'s manifest on ``group``, bound to that group until it expires
        (renewed by :meth:`tick`) and naming the revoked releases (``signing.bind``)."""
        now = self.clock()
        manifest = bind(
            self.store.manifest(version), self.signing_key, now=now,
            ttl_s=self.settings.manifest_ttl_s, group=group, revoked=self.revoked(),
        )  # fmt: skip
        self.publisher.publish(group, manifest.to_bytes())
        self.published[group] = (version, now)
        self.metrics.manifests.labels(group).inc()
        log.info("manifest of release %d retained on group %s", version, group)
