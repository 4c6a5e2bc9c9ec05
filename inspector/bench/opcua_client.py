"""An OPC UA client beside the benchmarked line, as a plant's SCADA holds one: subscribed to every result.

It connects with the bench's client certificate (Basic256Sha256,
SignAndEncrypt), subscribes to the vision system's ResultReadyEvents and
counts them, in a thread of its own, so the "on" runs of ``inspector bench
outputs`` pay for a subscribed client, not for an idle server.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from pathlib import Path

from inspector.config.schema import Config

log = logging.getLogger(__name__)

CLIENT = "bench"
PUBLISH_INTERVAL_MS = 50
READ_INTERVAL_S = 0.5


class _Events:
    def __init__(self) -> None:
        self.count = 0

    def event_notification(self, event) -> None:  # asyncua's handler interface
        self.count += 1


class SubscribedClient:
    """``start()`` connects and subscribes in a thread; ``events`` counts result-ready events; ``stop()`` disconnects."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.handler = _Events()
        self.error = ""
        self.subscribed = False
        self.last_part_id = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread: threading.Thread | None = None

    @property
    def events(self) -> int:
        return self.handler.count

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="bench-opcua-client", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except Exception as err:  # noqa: BLE001 - reported in the bench's result, never fatal to the line
            self.error = f"{type(err).__name__}: {err}"
            log.warning("bench OPC UA client: %s", self.error)

    async def _main(self) -> None:
        from asyncua import Client
        from asyncua.crypto.security_policies import SecurityPolicyBasic256Sha256

        from inspector.opcua.certs import CLIENT_URI, client_paths, server_paths
        from inspector.opcua.server import NAMESPACE

        self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
        folder = Path(self.config.opcua.folder)
        paths = client_paths(folder, CLIENT)
        client = Client(self.config.opcua.endpoint, timeout=10)
        client.application_uri = CLIENT_URI.format(name=CLIENT)
        await client.set_security(SecurityPolicyBasic256Sha256, str(paths.cert), str(paths.key),
                                  server_certificate=str(server_paths(folder).cert))
        await client.load_client_certificate(str(paths.cert))  # the user identity: the same certificate
        await client.load_private_key(str(paths.key))
        async with client:
            ns = await client.get_namespace_index(NAMESPACE)
            system = await client.nodes.objects.get_child(f"{ns}:VisionSystem")
            event_type = await client.nodes.root.get_child(["0:Types", "0:EventTypes", "0:BaseEventType", f"{ns}:ResultReadyEventType"])
            subscription = await client.create_subscription(PUBLISH_INTERVAL_MS, self.handler)
            await subscription.subscribe_events(system, event_type)
            self.subscribed = True
            part_id = await system.get_child([f"{ns}:ResultManagement", f"{ns}:LastResult", f"{ns}:PartId"])
            while not self._stop.is_set():  # what a SCADA screen shows: the last result, read now and then
                self.last_part_id = int(await part_id.read_value() or 0)
                try:
                    await asyncio.wait_for(self._stop.wait(), READ_INTERVAL_S)
                except TimeoutError:
                    pass

    def stop(self) -> None:
        if self._thread is None:
            return
        if self._thread.is_alive() and self._loop is not None and self._stop is not None:
            try:
                self._loop.call_soon_threadsafe(self._stop.set)
            except RuntimeError:  # its loop ended on its own (an error, recorded in ``error``)
                pass
        self._thread.join(15)
