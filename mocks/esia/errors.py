"""The one refusal type of mock ЕСИА.

Every refusal has the real shape: `error` (RFC 6749 code paired with the ЕСИА code in
`specs/openapi/esia.yaml`), `error_description` = `ESIA-0070xx: <text>`, and `state` echoed
when it could be read. `detail` is for the request journal and logs only: it explains the
refusal to a developer but is never sent (real ЕСИА does not say *why* a secret is wrong).
"""
from __future__ import annotations

import re
from typing import Any

from mocks.esia import spec

# What an error text may quote from a request: short, printable, no markup. Anything else is
# named, not quoted, so no control character or raw input is reflected (esia.yaml
# `error_description` pattern `^ESIA-[0-9]{6}: .+$`).
_QUOTABLE = re.compile(r"[A-Za-z0-9_.:/?=+-]{1,64}")
_UUID = re.compile(r"[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}")


class EsiaError(Exception):
    def __init__(self, code: str, text: str, *, status: int = 400, error: str | None = None,
                 state: str | None = None, detail: str | None = None) -> None:
        self.code = code
        self.text = text
        self.status = status
        self.error = error or spec.oauth_error(code)
        self.state = state
        self.detail = detail
        super().__init__(self.description)

    @property
    def description(self) -> str:
        return f"ESIA-{self.code}: {self.text}"

    def body(self) -> dict[str, Any]:
        """The error; `state` echoed only when it is a UUID (esia.yaml `State`), so that no
        raw input is reflected."""
        out: dict[str, Any] = {"error": self.error, "error_description": self.description}
        if self.state is not None and _UUID.fullmatch(self.state):
            out["state"] = self.state
        return out


def quoted(value: str | None, what: str = "value") -> str:
    """`[value]` when it is safe to show, otherwise `(the <what> given is not shown)`."""
    value = value or ""
    return f"[{value}]" if _QUOTABLE.fullmatch(value) else f"(the {what} given is not shown)"


# Constructors for the refusals the mock raises, so that texts are stated once.

def missing(param: str, state: str | None = None) -> EsiaError:
    # Text as quoted in fr05t1k/esia issue #59 (PROTOCOLS.md §1.3).
    return EsiaError("007014", f"The request doesn't contain the mandatory parameter [{param}]",
                     state=state)


def duplicated(param: str, state: str | None = None) -> EsiaError:
    return EsiaError("007003", f"The request contains the parameter {quoted(param, 'name')} more than once",
                     state=state)


def invalid(param: str, why: str, state: str | None = None) -> EsiaError:
    return EsiaError("007003", f"The parameter [{param}] is invalid: {why}", state=state)


def secret_wrong(state: str | None = None, detail: str | None = None) -> EsiaError:
    # Text as seen in ilimurzin/esia issue #7 (PROTOCOLS.md §1.3).
    return EsiaError("007053", "OAuthErrorEnum.clientSecretWrong", state=state, detail=detail)


def unauthorized(state: str | None = None, detail: str | None = None) -> EsiaError:
    """No certificate registered for the mnemonic, or the certificate of another system
    (AISGorod #38, ekapusta #7: `unauthorized_client`, ESIA-007005). The text is ours."""
    return EsiaError("007005", "The system is not allowed to obtain tokens with this certificate "
                     "(unauthorized_client)", state=state, detail=detail)


def unknown_client(client_id: str | None, state: str | None = None) -> EsiaError:
    return unauthorized(state, f"no system is registered as {quoted(client_id, 'client_id')}")
