"""A tiny stand-in for a vendor's Python journal: the bits that talk to ЕСИА and the ПОДД agent."""
from __future__ import annotations

import httpx
import requests


class Settings:
    def __init__(self, esia_url: str, agent_url: str, mnemonic: str) -> None:
        self.esia_url, self.agent_url, self.mnemonic = esia_url, agent_url, mnemonic


CERTIFICATE_PATH = "/.well-known/esia-signing-certificate"   # ЕСИА hands out its certificate, no JWKS


def esia_certificate(settings: Settings) -> str:
    """ЕСИА's token-signing certificate, PEM (httpx, sync)."""
    resp = httpx.get(f"{settings.esia_url}{CERTIFICATE_PATH}", timeout=10)
    resp.raise_for_status()
    return resp.text


async def esia_certificate_async(settings: Settings) -> str:
    async with httpx.AsyncClient(timeout=10) as client:
        resp = await client.get(f"{settings.esia_url}{CERTIFICATE_PATH}")
        resp.raise_for_status()
        return resp.text


def upload_table(settings: Settings, table: str, csv: bytes) -> requests.Response:
    """Send one export table to the agent (requests), as the journal's exporter does."""
    return requests.post(f"{settings.agent_url}/{settings.mnemonic}/myedu/api/edu-upload/v1/csv/{table}",
                         data=csv, headers={"Content-Type": "application/octet-stream"}, timeout=60)
