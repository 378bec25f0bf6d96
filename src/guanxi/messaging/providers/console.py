"""Development backend: writes each message as one JSON line to stdout or a file, and accepts it.

Lets a developer see what would have gone out (template, variables, keys, and the recipient masked
as ``138****8000``: the file under ``var/`` is not a place for customers' numbers) without
credentials or network; never use it where real customers expect a message.
"""

from __future__ import annotations

import datetime as dt
import sys
import threading
import uuid
from pathlib import Path
from typing import TextIO

from guanxi.core.redaction import mask_address
from guanxi.messaging.providers.base import Outcome, SendBatch, SendResult, compact_json


class ConsoleProvider:
    name = "console"
    max_batch = 1000

    def __init__(self, *, channel: str = "sms", stream: TextIO | None = None, path: str | Path | None = None) -> None:
        self.channel = channel
        self._stream = stream
        self._path = Path(path) if path else None
        self._lock = threading.Lock()

    def send(self, batch: SendBatch) -> list[SendResult]:
        now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        results = []
        lines = []
        for recipient in batch.recipients:
            message_id = f"console-{uuid.uuid4().hex}"
            lines.append(
                compact_json(
                    {
                        "at": now,
                        "channel": self.channel,
                        "id": message_id,
                        "to": mask_address(recipient.to) if recipient.to else "",
                        "template": batch.template,
                        "sign_name": batch.sign_name,
                        "params": {str(k): str(v) for k, v in recipient.params.items()},
                        "out_id": recipient.out_id or batch.out_id,
                        "url": batch.url,
                    }
                )
            )
            results.append(SendResult(recipient, Outcome.ACCEPTED, provider_message_id=message_id, code="OK"))
        with self._lock:
            if self._path is not None:
                self._path.parent.mkdir(parents=True, exist_ok=True)
                with self._path.open("a", encoding="utf-8") as handle:
                    handle.writelines(line + "\n" for line in lines)
            else:
                stream = self._stream or sys.stdout
                stream.writelines(line + "\n" for line in lines)
                stream.flush()
        return results
