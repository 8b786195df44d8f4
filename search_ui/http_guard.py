"""Who may talk to `l2v serve`, in what form, and how much of the machine one connection may hold.

* **Host check** (DNS rebinding): a web page on ``attacker.example`` can point that name at 127.0.0.1 and
  then read the local server as "same origin". Its requests still carry ``Host: attacker.example``, so
  the server answers only requests whose Host names its own address: localhost, 127.0.0.1 or [::1] with
  its port, the bound host when that is not a loopback address, and -- bound to every interface (0.0.0.0,
  ::) -- any IP address or this machine's name (an IP in the address bar cannot be rebound).
* **JSON only on POST**: a cross-site form or ``fetch`` may send ``text/plain`` without asking the
  server first (a "simple request"); ``application/json`` needs the CORS preflight this server never
  grants.
* **Bounded connections**: each connection has a thread; an idle socket times out after
  ``CONNECTION_TIMEOUT`` seconds and at most ``MAX_CONNECTIONS`` are served at once (300 half-open
  connections used to hold 300 threads); one more is answered 503 at once.
"""
from __future__ import annotations

import ipaddress
import json
import re
import socket
import sys
import threading
from http.server import ThreadingHTTPServer

from .api_requests import RequestError

CONNECTION_TIMEOUT = 15.0     # seconds a connection may stay silent (reading the request, writing the answer)
MAX_CONNECTIONS = 64          # connections served at once
WILDCARDS = ("", "0.0.0.0", "::")
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "[::1]")


def _bracketed(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def _ip(name: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(name.strip("[]"))
    except ValueError:
        return None


class HostCheck:
    """The Host headers a server bound to ``host``:``port`` accepts (see the module docstring)."""

    def __init__(self, host: str, port: int):
        self.port = port
        self.names = set(LOOPBACK_NAMES)
        self.any_ip = host in WILDCARDS
        if self.any_ip:
            self.names.update(n.lower() for n in (socket.gethostname(), socket.getfqdn()) if n)
        elif not (_ip(host) and _ip(host).is_loopback) and host.lower() != "localhost":
            self.names.add(_bracketed(host).lower())

    def refusal(self, header: str | None) -> str | None:
        """None when ``header`` (None: absent -- browsers always send one) is acceptable, else why not."""
        if header is None:
            return None
        name, port = split_host(header.strip())
        if port == self.port and name is not None and (
                name.lower() in self.names or (self.any_ip and _ip(name) is not None)):
            return None
        shown = header.encode("ascii", "backslashreplace").decode()[:100]
        return (f"Host '{shown}' is not this server's address; send requests to http://127.0.0.1:{self.port} "
                "(l2v serve refuses other Host names, against DNS rebinding)")


def split_host(header: str) -> tuple[str | None, int | None]:
    """``name[:port]`` or ``[v6][:port]`` -> (name, port); port 80 when absent; (None, None) when malformed."""
    match = re.fullmatch(r"(\[[0-9A-Fa-f:.]+\]|[^\[\]:/@\s]+)(?::([0-9]{1,5}))?", header)
    if not match:
        return None, None
    return match.group(1), int(match.group(2)) if match.group(2) else 80


def require_json(content_type: str | None) -> None:
    """POST bodies must say ``application/json`` (a charset parameter is fine), else 415."""
    media = (content_type or "").split(";")[0].strip().lower()
    if media != "application/json":
        raise RequestError(f"POST bodies must be JSON with 'Content-Type: application/json' (got "
                           f"{(content_type or 'none')[:60]!r})", 415)


def read_json(headers, rfile, max_body: int) -> dict:
    """The request body as a JSON object; every malformed framing or document is a RequestError."""
    if headers.get("Transfer-Encoding"):
        raise RequestError("chunked request bodies are not supported; send a Content-Length", 411)
    lengths = set(headers.get_all("Content-Length") or [])
    if len(lengths) > 1:
        raise RequestError("the request has conflicting Content-Length headers")
    raw = lengths.pop().strip() if lengths else "0"
    if not re.fullmatch(r"[0-9]{1,15}", raw):
        raise RequestError(f"Content-Length must be a non-negative integer, got {raw[:40]!r}")
    length = int(raw)
    if length > max_body:
        raise RequestError(f"request body over {max_body >> 20} MiB", 413)
    try:
        data = rfile.read(length)
    except TimeoutError:
        raise RequestError(f"the body did not arrive within {CONNECTION_TIMEOUT:g} s", 408) from None
    if len(data) < length:
        raise RequestError(f"the body ended after {len(data)} of its {length} bytes (Content-Length)")
    try:
        body = json.loads(data or b"{}")
    except (ValueError, UnicodeDecodeError) as err:
        raise RequestError(f"the body is not valid JSON ({getattr(err, 'msg', err)})") from None
    except RecursionError:
        raise RequestError("the body is not valid JSON for this server (nested too deeply)") from None
    if not isinstance(body, dict):
        raise RequestError("the body must be a JSON object")
    return body


class BoundedHTTPServer(ThreadingHTTPServer):
    """A thread per connection, at most ``max_connections`` of them; the next one gets 503 right away."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], handler, max_connections: int = MAX_CONNECTIONS):
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        super().__init__(address, handler)
        self.max_connections = max_connections
        self.slots = threading.BoundedSemaphore(max_connections)

    def process_request(self, request, client_address) -> None:
        if not self.slots.acquire(blocking=False):
            self._refuse(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self.slots.release()
            raise

    def process_request_thread(self, request, client_address) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.slots.release()

    def handle_error(self, request, client_address) -> None:
        """A connection that failed mid-answer (client gone, timed out): one line, not a traceback."""
        err = sys.exc_info()[1]
        sys.stderr.write(f"l2v serve: connection from {client_address[0]} dropped ({type(err).__name__}: {err})\n")

    def _refuse(self, request) -> None:
        body = json.dumps({"error": {"message": f"the server is busy ({self.max_connections} connections open); "
                                                "try again", "type": "server_busy"}}).encode()
        head = (f"HTTP/1.0 503 Service Unavailable\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\nRetry-After: 1\r\nConnection: close\r\n\r\n").encode()
        try:
            request.settimeout(1.0)
            request.sendall(head + body)
        except OSError:
            pass
        self.shutdown_request(request)
