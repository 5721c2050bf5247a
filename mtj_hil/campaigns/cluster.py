"""The Dask cluster a campaign runs on, and keeping others from driving it.

Whoever can reach a Dask scheduler can run code on every one of its workers: Dask has no
other access control than TLS client certificates. So:

- a local cluster listens on loopback only and speaks TLS with throwaway credentials made
  for this process (``LocalCluster(security=True)``): another user of the machine cannot
  submit work to it; its dashboard (plain HTTP) is bound to loopback unless the campaign
  file's ``[cluster] dashboard_address`` asks otherwise;
- ``--scheduler tls://HOST:PORT`` connects with TLS and a client certificate, taken from the
  campaign file's ``[cluster]`` section (``tls_ca_file``, ``tls_client_cert``,
  ``tls_client_key``; paths relative to the file) or else from Dask's configuration
  (``distributed.comm.tls.ca-file``, ``.client.cert``, ``.client.key``);
- ``--scheduler tcp://...`` is plain TCP, unauthenticated and unencrypted: anyone who can
  reach the port runs code as the workers' user. Use it only on a network nobody else is on.

Layout::

    [cluster]
    tls_ca_file = "certs/ca.pem"          # the CA that signed scheduler, worker, client
    tls_client_cert = "certs/client.pem"
    tls_client_key = "certs/client-key.pem"
    dashboard_address = "127.0.0.1:8787"  # local cluster; ":8787" = every interface
"""

from __future__ import annotations

import contextlib
import ipaddress
import threading
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import SplitResult, urlsplit

from mtj_hil.errors import ConfigError
from mtj_hil.schema import check_unknown

TLS_KEYS = ("tls_ca_file", "tls_client_cert", "tls_client_key")
DEFAULT_DASHBOARD = "127.0.0.1:8787"


@dataclass(frozen=True)
class ClusterSettings:
    """The ``[cluster]`` section of a campaign file (absolute paths)."""

    tls_ca_file: str | None = None
    tls_client_cert: str | None = None
    tls_client_key: str | None = None
    dashboard_address: str = DEFAULT_DASHBOARD

    @property
    def tls(self) -> bool:
        return any(getattr(self, k) for k in TLS_KEYS)


def parse_cluster(section: Any, file: Path) -> ClusterSettings:
    """Check a ``[cluster]`` section.

    Raises:
        ConfigError: not a table, an unknown key, a value that is not text, or a certificate
            file that does not exist (naming ``cluster.<key>``).
    """
    if section is None:
        return ClusterSettings()
    if not isinstance(section, dict):
        raise ConfigError(f"{file}: [cluster] must be a table")
    check_unknown(section, (*TLS_KEYS, "dashboard_address"), str(file), "cluster", "[cluster]")
    values: dict[str, str] = {}
    for key, value in section.items():
        if not isinstance(value, str) or not value:
            raise ConfigError(f"{file}: cluster.{key} must be a non-empty string")
        if key in TLS_KEYS:
            p = Path(value).expanduser()
            p = p if p.is_absolute() else (file.parent / p).resolve()
            if not p.is_file():
                raise ConfigError(f"{file}: cluster.{key} = {value!r}: no such file ({p})")
            value = str(p)
        values[key] = value
    return ClusterSettings(**values)


def security_for(scheduler: str, settings: ClusterSettings) -> Any:
    """The ``distributed.Security`` to reach ``scheduler`` with (None for plain TCP).

    Raises:
        ConfigError: ``tls://`` without certificates in the campaign file or Dask's
            configuration, or certificates given for a ``tcp://`` scheduler.
    """
    from distributed.security import Security

    scheme = urlsplit(scheduler).scheme or "tcp"
    if scheme != "tls":
        if settings.tls:
            raise ConfigError(
                f"the campaign file gives TLS certificates ([cluster]) but --scheduler "
                f"{scheduler} is not tls://; connect with tls://HOST:PORT"
            )
        return None
    if settings.tls:
        given = {k: getattr(settings, k) for k in TLS_KEYS if getattr(settings, k)}
        sec = Security(require_encryption=True, **given)
    else:
        sec = Security(require_encryption=True)  # from Dask's configuration
    if not sec.tls_ca_file or not sec.tls_client_cert:
        raise ConfigError(
            f"--scheduler {scheduler} needs TLS certificates: set tls_ca_file, "
            "tls_client_cert (and tls_client_key) in the campaign file's [cluster] section "
            "or distributed.comm.tls.ca-file / .client.cert / .client.key in Dask's "
            "configuration (see docs/campaigns.md)"
        )
    return sec


SCHEDULER_SCHEMES = ("tcp", "tls")
"""Transports a scheduler address may name (``HOST:PORT`` alone means ``tcp``)."""


def _split(address: str) -> SplitResult:
    """``address`` split as a URL, ``HOST:PORT`` read as ``tcp://HOST:PORT``.

    Raises:
        ValueError: a host or port that cannot be one (e.g. a port out of range).
    """
    return urlsplit(address if "://" in address else f"tcp://{address}")


def scheduler_address(address: str) -> str:
    """``address`` if it names a Dask scheduler as ``tls://HOST:PORT``, ``tcp://HOST:PORT``
    or ``HOST:PORT`` (IPv6 hosts in brackets).

    Raises:
        ValueError: anything else, saying what is wrong and what to give.
    """
    give = "give tls://HOST:PORT or tcp://HOST:PORT"
    try:
        parts = _split(address)
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"{address!r} is not a scheduler address ({exc}): {give}") from None
    if parts.scheme not in SCHEDULER_SCHEMES:
        raise ValueError(f"{address!r}: transport {parts.scheme!r} is not tcp or tls: {give}")
    if not parts.hostname:
        raise ValueError(f"{address!r} names no host: {give}")
    if port is None or port == 0:
        raise ValueError(
            f"{address!r} names no port (a scheduler listens on 8786 by default): {give}"
        )
    if parts.path or parts.query or parts.fragment or parts.username or parts.password:
        raise ValueError(f"{address!r} has more than a host and a port: {give}")
    return address


def plain_remote(scheduler: str) -> bool:
    """Whether ``scheduler`` is plain TCP to another machine (see the module docstring)."""
    parts = _split(scheduler)
    if parts.scheme not in ("tcp", ""):
        return False
    host = parts.hostname or ""
    if host == "localhost":
        return False
    try:
        return not ipaddress.ip_address(host).is_loopback
    except ValueError:
        return True


def connect(
    scheduler: str | None = None,
    workers: int | None = None,
    *,
    processes: bool = True,
    timeout: float = 10.0,
    settings: ClusterSettings | None = None,
) -> Any:
    """A ``distributed.Client``: to the scheduler at ``scheduler`` (``tls://HOST:PORT`` or
    ``tcp://HOST:PORT``) or to a new loopback-only ``LocalCluster`` of ``workers``
    single-threaded workers (default: one per core) speaking TLS with throwaway credentials.

    Raises:
        ConfigError: ``scheduler`` is not an address (:func:`scheduler_address`) or does not
            answer within ``timeout`` seconds (naming it), ``workers`` given with
            ``scheduler``, or TLS settings missing or mismatched.
    """
    import dask
    from distributed import Client, LocalCluster

    from mtj_hil.campaigns.quiet_stop import quiet_sync_cancel

    quiet_sync_cancel()  # a stop may meet distributed's sync() before its coroutine starts
    settings = settings or ClusterSettings()
    if scheduler is not None:
        try:
            scheduler_address(scheduler)
        except ValueError as exc:
            raise ConfigError(f"--scheduler {exc}") from None
        if workers is not None:
            raise ConfigError(
                "--workers starts a local cluster; it cannot be used with "
                f"--scheduler {scheduler} (start workers with 'dask worker')"
            )
        security = security_for(scheduler, settings)
        return _client_within(
            lambda: Client(scheduler, timeout=f"{timeout}s", security=security),
            scheduler,
            timeout,
        )
    # Dask's nanny sets MALLOC_TRIM_THRESHOLD_=65536 in every worker it spawns (to hand freed
    # memory back to the OS). That also turns off glibc's adaptive mmap threshold, so each of
    # the large temporary numpy arrays of a characterisation is a fresh mmap + page faults:
    # measured, a 1t1r-20k die took 0.45-0.69 s on such a worker against 0.32 s in-process or on
    # a worker without it. Tasks here are short-lived, so speed wins; a user's own setting of
    # the variable in the environment still takes precedence.
    # Another cluster (a second campaign, a notebook) holding the dashboard's port makes
    # distributed serve it on a free one with a UserWarning; the port in use is printed as
    # the dashboard link, so the warning is only noise on a campaign's stderr.
    warnings.filterwarnings("ignore", r"Port \d+ is already in use", UserWarning)
    with dask.config.set({"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}):
        try:
            cluster = LocalCluster(
                n_workers=workers,
                threads_per_worker=1,
                processes=processes,
                host="127.0.0.1",
                security=True,
                dashboard_address=settings.dashboard_address if processes else None,
            )
        except BaseException:
            _close_half_started()
            raise
    client = Client(cluster, security=cluster.security)
    from mtj_hil.campaigns.quiet_stop import QuietCancelledAtClose

    # a stop closes the workers under their running tasks: one CancelledError warning each
    client.register_plugin(QuietCancelledAtClose())
    return client


def _close_half_started() -> None:
    """Close, quietly, the local clusters a stop signal interrupted while they started.

    Left alone, distributed's exit handler (``distributed.deploy.spec.close_clusters``)
    closed them at exit and printed an ``AssertionError: Status.init`` traceback under the
    stop message, for a worker still starting. Each is closed here, errors suppressed, and
    then left out of that handler (``shutdown_on_close``, which it consults).
    """
    from distributed.core import Status
    from distributed.deploy.spec import SpecCluster

    for cluster in list(SpecCluster._instances):
        if getattr(cluster, "status", Status.closed) == Status.closed:
            continue
        with contextlib.suppress(Exception):
            cluster.close(timeout=5)
        cluster.shutdown_on_close = False


def _client_within(make: Any, scheduler: str, timeout: float) -> Any:
    """``make()`` (a Client) within ``timeout`` seconds (plus a grace for the handshake).

    Dask bounds only the TCP connection: a port that accepts and stays silent (the
    dashboard's port, any other server) left its handshake waiting for ever, and one that
    answers with other bytes read them as a frame length (a MemoryError). The client is made
    in a daemon thread, abandoned if it has not answered by then.

    Raises:
        ConfigError: it does not answer as a Dask scheduler in time, or fails (naming it).
    """
    done: list[Any] = []

    def attempt() -> None:
        try:
            done.append(("ok", make()))
        except BaseException as exc:  # noqa: BLE001 - any failure is "not a scheduler"
            done.append(("failed", exc))

    thread = threading.Thread(target=attempt, name="dask-connect", daemon=True)
    thread.start()
    thread.join(timeout + HANDSHAKE_GRACE)
    if not done:
        raise ConfigError(
            f"Dask scheduler {scheduler} does not answer within {timeout:g} s (something "
            "listens there, but not a Dask scheduler: the dashboard's port, another server?)"
        )
    outcome, value = done[0]
    if outcome == "ok":
        return value
    if isinstance(value, KeyboardInterrupt):
        raise value
    text = " ".join(str(value).split())[:200] or type(value).__name__
    raise ConfigError(
        f"Dask scheduler {scheduler} does not answer within {timeout:g} s, or not as a Dask "
        f"scheduler: {type(value).__name__}: {text}"
    ) from value


HANDSHAKE_GRACE = 5.0
"""Seconds beyond the connection timeout a scheduler has to answer Dask's handshake."""


def dashboard_link(client: Any, local: bool = False) -> str | None:
    """The Dask dashboard's address, if the scheduler serves one (a local one needs ``bokeh``
    installed; without it the page only says so, and None is returned)."""
    import importlib.util

    if local and importlib.util.find_spec("bokeh") is None:
        return None
    try:
        services = client.scheduler_info().get("services", {})
    except Exception:  # noqa: BLE001 - a link is a courtesy, never a failure
        return None
    return str(client.dashboard_link) if "dashboard" in services else None
