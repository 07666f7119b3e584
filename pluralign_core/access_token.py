"""An access token for an app shared beyond this machine, as Jupyter does.

On the loopback address the Host allow-list (:mod:`pluralign_core.commands.app`) is the defence: only
this machine's browsers reach the server, and a rebinding page is refused by its Host name. Once the app
listens on a network address, anyone who can reach the port could use it, and the store holds the
raters' demographic answers. So ``pluralign app --host <non-loopback>`` makes a random token (or takes
``--token``), hands it to the server in :data:`TOKEN_ENV`, and prints the link that carries it
(``http://host:port/?token=…``). Every browser session must open that link once; a session without the
token sees only a refusal and can run no page. ``--no-token`` turns this off explicitly.
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets

TOKEN_ENV = "PLURALIGN_ACCESS_TOKEN"
QUERY_PARAMETER = "token"
LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})


def is_loopback(host: str) -> bool:
    """Whether listening on ``host`` keeps the app on this machine (127.0.0.0/8, ::1, localhost)."""
    name = host.strip().strip("[]").lower()
    if name in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def new_token() -> str:
    """A random URL-safe token (192 bits)."""
    return secrets.token_urlsafe(24)


def server_token(host: str, given: str | None = None, *, disabled: bool = False) -> str | None:
    """The token the server at ``host`` requires: None on loopback or when ``disabled``, else ``given``
    or a new one. A given token must be at least 16 characters, so that it cannot be guessed."""
    if disabled or is_loopback(host):
        return None
    if given is None:
        return new_token()
    if len(given) < 16:
        raise ValueError("--token must be at least 16 characters long; leave it out to get a random one")
    return given


def accepts(expected: str | None, given: str | None) -> bool:
    """Whether a session that presented ``given`` may use a server that requires ``expected``
    (constant-time comparison; no token required: always)."""
    if not expected:
        return True
    return given is not None and hmac.compare_digest(expected.encode(), str(given).encode())


def share_link(host: str, port: int, token: str | None) -> str:
    """The link to print: the address to open, with the token when one is required."""
    shown = "localhost" if host in ("0.0.0.0", "::") else host
    link = f"http://{shown}:{port}/"
    return f"{link}?{QUERY_PARAMETER}={token}" if token else link
