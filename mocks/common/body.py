"""Reading an ASGI request body with a size cap, and handing it on to the app again."""
from __future__ import annotations

import asyncio
from typing import Any


def content_length(scope: dict[str, Any]) -> int | None:
    for k, v in scope.get("headers", []):
        if k == b"content-length":
            try:
                return int(v)
            except ValueError:
                return None
    return None


async def read_body(scope: dict[str, Any], receive: Any, cap: int) -> tuple[bytes, bool]:
    """(body, too_big). A declared or streamed size over `cap` stops reading at once."""
    declared = content_length(scope)
    if scope.get("method") in ("GET", "HEAD", "DELETE", "OPTIONS") and not declared:
        return b"", False
    if declared is not None and declared > cap:
        return b"", True
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > cap:
            return b"", True
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks), False


def replay(body: bytes) -> Any:
    """An ASGI `receive` that yields `body` once, then waits for a disconnect."""
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.sleep(3600)
        return {"type": "http.disconnect"}
    return receive
