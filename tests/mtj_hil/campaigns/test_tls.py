"""A campaign over TLS: certificates from the campaign file, a scheduler nobody without a
client certificate can use, a local cluster bound to loopback."""

from __future__ import annotations

import datetime
import ipaddress
from pathlib import Path

import pytest

from mtj_hil.campaigns import load_campaign
from mtj_hil.campaigns.cluster import plain_remote
from mtj_hil.campaigns.index import CampaignIndex
from mtj_hil.cli import main

x509 = pytest.importorskip("cryptography.x509")
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402
from cryptography.x509.oid import NameOID  # noqa: E402

CAMPAIGN = """
[campaign]
name = "tls"
out_dir = "out"

[[task]]
name = "lot"
kind = "characterize"
profile = "passive-15x15"
dies = "0-1"
arrays = "0"
cycles = 1
"""


def _cert(name: str, key, issuer_name, issuer_key, ca: bool):
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if not ca:
        builder = builder.add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
    return builder.sign(issuer_key, hashes.SHA256())


def _write(folder: Path, name: str, cert, key) -> tuple[Path, Path]:
    c, k = folder / f"{name}.pem", folder / f"{name}-key.pem"
    c.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    k.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return c, k


@pytest.fixture
def certs(tmp_path: Path) -> dict[str, Path]:
    """A throwaway CA and a certificate each for scheduler/worker and client."""
    folder = tmp_path / "certs"
    folder.mkdir()
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test CA")])
    ca = _cert("test CA", ca_key, ca_name, ca_key, ca=True)
    ca_file, _ = _write(folder, "ca", ca, ca_key)
    out = {"ca": ca_file}
    for role in ("node", "client"):
        key = ec.generate_private_key(ec.SECP256R1())
        out[role], out[f"{role}-key"] = _write(
            folder, role, _cert(role, key, ca_name, ca_key, ca=False), key
        )
    return out


@pytest.mark.slow
def test_campaign_runs_over_tls_and_strangers_are_refused(tmp_path: Path, certs) -> None:
    from distributed import Client, LocalCluster
    from distributed.security import Security

    node = Security(
        tls_ca_file=str(certs["ca"]),
        tls_scheduler_cert=str(certs["node"]),
        tls_scheduler_key=str(certs["node-key"]),
        tls_worker_cert=str(certs["node"]),
        tls_worker_key=str(certs["node-key"]),
        tls_client_cert=str(certs["client"]),
        tls_client_key=str(certs["client-key"]),
        require_encryption=True,
    )
    with LocalCluster(
        n_workers=1,
        threads_per_worker=1,
        processes=False,
        protocol="tls://",
        host="127.0.0.1",
        security=node,
        dashboard_address=None,
    ) as cluster:
        address = cluster.scheduler_address
        assert address.startswith("tls://127.0.0.1:")
        # without certificates in the campaign file: refused before connecting (exit 3)
        bare = tmp_path / "bare"
        bare.mkdir()
        (bare / "c.toml").write_text(CAMPAIGN)
        assert main(["campaign", "run", str(bare / "c.toml"), "--scheduler", address]) == 3
        # a stranger trusting the scheduler but with a certificate of their own making
        # (not signed by the cluster's CA) cannot connect
        key = ec.generate_private_key(ec.SECP256R1())
        own = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "stranger")])
        cert, key_file = _write(tmp_path, "stranger", _cert("x", key, own, key, ca=False), key)
        stranger = Security(
            tls_ca_file=str(certs["ca"]),
            tls_client_cert=str(cert),
            tls_client_key=str(key_file),
            require_encryption=True,
        )
        with pytest.raises((OSError, TimeoutError)):
            Client(address, security=stranger, timeout="3s")
        # with the certificates in [cluster]: the campaign runs
        folder = tmp_path / "ok"
        folder.mkdir()
        rel = {k: Path("..") / "certs" / v.name for k, v in certs.items()}
        (folder / "c.toml").write_text(
            CAMPAIGN
            + f'\n[cluster]\ntls_ca_file = "{rel["ca"]}"\ntls_client_cert = "{rel["client"]}"\n'
            + f'tls_client_key = "{rel["client-key"]}"\n'
        )
        assert main(["campaign", "run", str(folder / "c.toml"), "--scheduler", address]) == 0
    spec = load_campaign(folder / "c.toml")
    records = CampaignIndex(spec.index_path).records()
    assert {r["status"] for r in records.values()} == {"completed"}
    assert all(r["worker"].startswith("tls://127.0.0.1:") for r in records.values())


def test_tls_settings_must_match_the_scheduler_scheme(tmp_path: Path, certs) -> None:
    path = tmp_path / "c.toml"
    path.write_text(CAMPAIGN + f'\n[cluster]\ntls_ca_file = "{certs["ca"]}"\n')
    assert main(["campaign", "run", str(path), "--scheduler", "tcp://127.0.0.1:1"]) == 3
    path.write_text(CAMPAIGN + '\n[cluster]\ntls_ca_file = "missing.pem"\n')
    assert main(["campaign", "run", str(path)]) == 3


def test_plain_tcp_to_another_machine_is_named_a_risk() -> None:
    assert plain_remote("tcp://10.0.0.5:8786")
    assert plain_remote("sched-host:8786")
    assert not plain_remote("tcp://127.0.0.1:8786")
    assert not plain_remote("tcp://localhost:8786")
    assert not plain_remote("tls://10.0.0.5:8786")


def test_local_cluster_listens_on_loopback_with_tls() -> None:
    from mtj_hil.campaigns.engine import connect

    client = connect(workers=1)
    try:
        info = client.scheduler_info()
        assert info["address"].startswith("tls://127.0.0.1:")
        for worker in info["workers"]:
            assert worker.startswith("tls://127.0.0.1:")
        link = client.dashboard_link
        assert "127.0.0.1" in link
    finally:
        cluster = client.cluster
        client.close()
        cluster.close()
