"""The mock federal environment as one unit: ЕСИА, the ПОДД agent and the ЕПГУ showcase,
sharing one showcase and wired to each other.

`Environment(names, state_dir, admin_token=None, esia_signers=0)` builds the apps (in-process
use: `env.apps[name]`; with `admin_token` every `/_admin` route wants it, `mocks.common.guard`;
`esia_signers` > 0 signs ЕСИА's tokens in that many processes, `mocks.esia.signing`, stopped
by `stop()`);
`start()` serves each on loopback with a port the OS picks (`ServerThread`), then points
the portal at the agent and registers the portal at the agent as the provider of
`portal.yaml`, so on-demand calls go portal → agent → journal and event notifications
journal → agent → portal, as in production. The journal itself is registered by whoever
knows it (the suite, or `POST {smev}/_admin/providers`). `ezhd mocks up` and the conformance suite both use this; the mocks stay
independent of each other otherwise.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from mocks.common.guard import set_admin_token
from mocks.common.limits import Limits
from mocks.common.transports import ServerThread

NAMES = ("esia", "smev", "epgu")


class Environment:
    def __init__(self, names: tuple[str, ...] | list[str] = NAMES, state_dir: Path | None = None,
                 showcase_settings: dict[str, Any] | None = None, admin_token: str | None = None,
                 esia_signers: int = 0) -> None:
        unknown = [n for n in names if n not in NAMES]
        if unknown:
            raise ValueError(f"unknown mock {', '.join(unknown)}; available: {', '.join(NAMES)}")
        self.names = [n for n in NAMES if n in names]
        self.showcase: Any = None
        if "smev" in self.names or "epgu" in self.names:
            from mocks.epgu.showcase import Showcase

            if state_dir is not None:
                Path(state_dir).mkdir(parents=True, exist_ok=True)
            self.showcase = Showcase(state_dir=state_dir, **(showcase_settings or {}))
        self.apps: dict[str, Any] = {}
        for name in self.names:
            if name == "esia":
                from mocks.esia.app import create_app as esia_app
                self.apps[name] = esia_app(signers=esia_signers)
            elif name == "smev":
                import httpx

                from mocks.smev.app import create_app as smev_app
                # one transport for the calls the agent forwards: without it every call makes an
                # httpx client with a new TLS context (the CA bundle loaded, ~20 ms of CPU); no
                # keep-alive, so each call still has a connection of its own as before
                forward = httpx.AsyncHTTPTransport(limits=httpx.Limits(max_keepalive_connections=0))
                self.apps[name] = smev_app(showcase=self.showcase, transport=forward)
            else:
                from mocks.epgu.app import create_app as epgu_app
                self.apps[name] = epgu_app(showcase=self.showcase)
        self.admin_token = admin_token or None
        for app in self.apps.values():
            set_admin_token(app, self.admin_token)
        self.servers: dict[str, ServerThread] = {}
        self.urls: dict[str, str] = {}

    def start(self, host: str = "127.0.0.1", port: int = 0, limits: Limits | None = None,
              sockets: dict[str, Any] | None = None) -> dict[str, str]:
        """Serve every app (consecutive ports from `port`, or OS-picked when 0; or on `sockets`
        bound beforehand, by name, so that their URLs could be given out before; `limits` on
        slow clients and connections, `mocks.common.limits`); wire them."""
        try:
            for i, name in enumerate(self.names):
                server = ServerThread(self.apps[name], host=host, port=port + i if port else 0, limits=limits,
                                      sock=(sockets or {}).get(name))
                server.start()
                self.servers[name] = server
                self.urls[name] = server.url
        except BaseException:
            self.stop()
            raise
        if "smev" in self.urls and self.showcase is not None:
            self.showcase.configure(agent_url=self.urls["smev"])
        if "smev" in self.urls and "epgu" in self.urls:
            # the portal takes the journal's event notifications through the agent (portal.yaml)
            self.apps["smev"].state.core.register_provider(
                self.showcase.settings.portal_mnemonic, self.urls["epgu"], "portal.yaml",
                title="ЕПГУ «Моё образование»")
        return dict(self.urls)

    def alive(self) -> bool:
        return all(s.thread is not None and s.thread.is_alive() for s in self.servers.values())

    def stop(self) -> None:
        for server in self.servers.values():   # all told at once: each notices on uvicorn's next tick
            server.server.should_exit = True
        for server in self.servers.values():
            server.stop()
        self.servers.clear()
        for name in ("smev", "esia"):
            core = getattr(getattr(self.apps.get(name), "state", None), "core", None)
            if core is not None and hasattr(core, "close"):
                core.close()
        if self.showcase is not None:
            self.showcase.close()
            self.showcase = None

    def __enter__(self) -> "Environment":
        self.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()
