"""
Tests for L{virtd.pki}: the certificates it issues, the checks it makes,
its command line, and that a real libvirtd and virsh accept its layouts.
"""

from __future__ import annotations

import datetime
import io
import os
import shutil
import subprocess
import sys

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from twisted.trial.unittest import SynchronousTestCase, TestCase

from tests.support import RealLibvirtd, runVirsh
from virtd import pki

# RSA key generation dominates these tests: make the shared material once.
_CA = pki.makeCA(None, "test CA")
_OTHER_CA = pki.makeCA(None, "some other CA")


def _ext(cert: x509.Certificate, kind: type) -> x509.ExtensionType:
    return cert.extensions.get_extension_for_class(kind).value


class DistinguishedNameTests(SynchronousTestCase):
    """
    L{pki.parseDN} and L{pki.formatDN} use libvirt's DN spelling.
    """

    def test_orderKept(self) -> None:
        """
        Attributes keep the written order (most general first), which is the
        order libvirt prints for C{tls_allowed_dn_list}.
        """
        name = pki.parseDN("C=GB,O=virtd,CN=client1")
        self.assertEqual(
            [(a.oid, a.value) for a in name],
            [
                (NameOID.COUNTRY_NAME, "GB"),
                (NameOID.ORGANIZATION_NAME, "virtd"),
                (NameOID.COMMON_NAME, "client1"),
            ],
        )

    def test_roundTrip(self) -> None:
        """
        Escaped commas and backslashes survive a round trip.
        """
        dn = r"C=GB,ST=London,L=London,O=Acme\, Inc.,OU=a\\b,CN=client 1"
        name = pki.parseDN(dn)
        self.assertEqual(name.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value,
                         "Acme, Inc.")
        self.assertEqual(pki.formatDN(name), dn)

    def test_bad(self) -> None:
        """
        A pair without C{=}, an empty value or an unknown key is refused with
        a message naming the culprit.
        """
        for dn, culprit in [("CN", "'CN'"), ("CN=", "'CN='"), ("XX=1", "'XX'")]:
            e = self.assertRaises(ValueError, pki.parseDN, dn)
            self.assertIn(culprit, str(e))


class IssueTests(SynchronousTestCase):
    """
    The certificates carry the extensions libvirt insists on.
    """

    def test_ca(self) -> None:
        """
        The CA is self-signed, CA:TRUE, and may sign certificates; its files
        are written with the key private.
        """
        d = self.mktemp()
        ca = pki.makeCA(d, "my CA")
        self.assertTrue(_ext(ca.cert, x509.BasicConstraints).ca)
        self.assertTrue(_ext(ca.cert, x509.KeyUsage).key_cert_sign)
        self.assertEqual(pki.formatDN(ca.cert.subject), "O=virtd,CN=my CA")
        ca.cert.verify_directly_issued_by(ca.cert)
        self.assertEqual(os.stat(os.path.join(d, "cakey.pem")).st_mode & 0o777, 0o600)
        loaded = pki.loadCA(d)
        self.assertEqual(loaded.cert, ca.cert)
        self.assertEqual(loaded.keyPEM(), ca.keyPEM())

    def test_server(self) -> None:
        """
        A server certificate has the names and IPs in subjectAltName,
        serverAuth, digitalSignature+keyEncipherment and CA:FALSE.
        """
        d = self.mktemp()
        server = pki.makeServerCert(d, _CA, ["localhost", "virt.example"], ["127.0.0.1", "::1"])
        san = _ext(server.cert, x509.SubjectAlternativeName)
        self.assertEqual(san.get_values_for_type(x509.DNSName), ["localhost", "virt.example"])
        self.assertEqual(
            [str(ip) for ip in san.get_values_for_type(x509.IPAddress)], ["127.0.0.1", "::1"]
        )
        self.assertEqual(list(_ext(server.cert, x509.ExtendedKeyUsage)),
                         [ExtendedKeyUsageOID.SERVER_AUTH])
        usage = _ext(server.cert, x509.KeyUsage)
        self.assertTrue(usage.digital_signature and usage.key_encipherment)
        self.assertFalse(usage.key_cert_sign)
        self.assertFalse(_ext(server.cert, x509.BasicConstraints).ca)
        server.cert.verify_directly_issued_by(_CA.cert)
        self.assertEqual(
            sorted(os.listdir(d)), ["servercert.pem", "serverkey.pem"]
        )

    def test_serverNeedsAName(self) -> None:
        """
        A server certificate without any name is refused: no client could
        verify it.
        """
        self.assertRaises(ValueError, pki.makeServerCert, None, _CA, [], [])
        self.assertRaises(ValueError, pki.makeServerCert, None, _CA, [], ["not-an-ip"])

    def test_client(self) -> None:
        """
        A client certificate has the requested subject and clientAuth.
        """
        client = pki.makeClientCert(None, _CA, "C=GB,O=virtd,CN=client1")
        self.assertEqual(pki.formatDN(client.cert.subject), "C=GB,O=virtd,CN=client1")
        self.assertEqual(list(_ext(client.cert, x509.ExtendedKeyUsage)),
                         [ExtendedKeyUsageOID.CLIENT_AUTH])
        client.cert.verify_directly_issued_by(_CA.cert)

    def test_layouts(self) -> None:
        """
        The server and client layouts hold exactly libvirt's file names, and
        never the CA's key.
        """
        base = self.mktemp()
        layout = pki.initPKI(base)
        self.assertEqual(sorted(os.listdir(layout.caDir)), ["cacert.pem", "cakey.pem"])
        self.assertEqual(
            sorted(os.listdir(layout.serverDir)),
            ["cacert.pem", "servercert.pem", "serverkey.pem"],
        )
        self.assertEqual(
            sorted(os.listdir(layout.clientDir)),
            ["cacert.pem", "clientcert.pem", "clientkey.pem"],
        )
        for d in (layout.serverDir, layout.clientDir):
            with open(os.path.join(d, "cacert.pem"), "rb") as a, open(
                os.path.join(layout.caDir, "cacert.pem"), "rb"
            ) as b:
                self.assertEqual(a.read(), b.read())


class CheckLayoutTests(SynchronousTestCase):
    """
    L{pki.checkLayout} says exactly what is wrong with a pkipath.
    """

    def setUp(self) -> None:
        self.server = self.mktemp()
        self.client = self.mktemp()
        pki.writeServerLayout(self.server, _CA)
        pki.writeClientLayout(self.client, _CA, "CN=client1")

    def check(self, directory: str) -> list[str]:
        return pki.checkLayout(directory)[1]

    def test_good(self) -> None:
        """
        Fresh layouts have no problems, and their role is recognised.
        """
        self.assertEqual(pki.checkLayout(self.server), ("server", []))
        self.assertEqual(pki.checkLayout(self.client), ("client", []))

    def test_notAPkipath(self) -> None:
        """
        A directory without a certificate, or no directory, is named.
        """
        empty = self.mktemp()
        os.mkdir(empty)
        [problem] = self.check(empty)
        self.assertIn("not a libvirt pkipath", problem)
        [problem] = self.check(empty + "/nope")
        self.assertIn("not a directory", problem)

    def test_missingFiles(self) -> None:
        """
        Each missing file is reported by its path.
        """
        os.remove(os.path.join(self.client, "cacert.pem"))
        os.remove(os.path.join(self.client, "clientkey.pem"))
        self.assertEqual(
            self.check(self.client),
            [
                f"{self.client}/cacert.pem: missing",
                f"{self.client}/clientkey.pem: missing",
            ],
        )

    def test_garbage(self) -> None:
        """
        Files that are not PEM are reported as such.
        """
        for name in ("servercert.pem", "serverkey.pem"):
            with open(os.path.join(self.server, name), "w") as f:
                f.write("hello\n")
        self.assertEqual(
            self.check(self.server),
            [
                f"{self.server}/servercert.pem: not a PEM certificate",
                f"{self.server}/serverkey.pem: not an unencrypted PEM private key",
            ],
        )

    def test_keyMismatch(self) -> None:
        """
        A key that belongs to another certificate is reported.
        """
        other = pki.makeClientCert(None, _CA)
        with open(os.path.join(self.client, "clientkey.pem"), "wb") as f:
            f.write(other.keyPEM())
        self.assertEqual(
            self.check(self.client),
            [f"{self.client}/clientkey.pem: does not match the public key in "
             f"{self.client}/clientcert.pem"],
        )

    def test_wrongCA(self) -> None:
        """
        A certificate signed by a different CA is reported with both names.
        """
        pki.makeClientCert(self.client, _OTHER_CA, "CN=client1")
        [problem] = self.check(self.client)
        self.assertIn(f"{self.client}/clientcert.pem: not signed by {self.client}/cacert.pem",
                      problem)
        self.assertIn("some other CA", problem)

    def test_expired(self) -> None:
        """
        An expired certificate is reported with its end date.
        """
        pki.makeServerCert(
            self.server, _CA, now=datetime.datetime(2001, 1, 1, tzinfo=datetime.UTC),
            days=10,
        )
        [problem] = self.check(self.server)
        self.assertEqual(
            problem,
            f"{self.server}/servercert.pem: expired on 2001-01-11 00:00:00 UTC; issue a new one",
        )

    def test_notYetValid(self) -> None:
        """
        Checking at a time before the validity period says so.
        """
        past = datetime.datetime(2001, 1, 1, tzinfo=datetime.UTC)
        problems = pki.checkLayout(self.client, now=past)[1]
        self.assertEqual(len(problems), 2)  # the CA and the client certificate
        for p in problems:
            self.assertIn("not valid yet", p)

    def test_serverWithoutSAN(self) -> None:
        """
        A server certificate without subjectAltName is reported.
        """
        key = pki._newKey(2048)
        cert = pki._issue(
            pki.parseDN("CN=localhost"), key, _CA, 10, None,
            [(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False)],
        )
        pki._write(self.server, pki.CertAndKey(cert, key), "servercert.pem", "serverkey.pem")
        [problem] = self.check(self.server)
        self.assertIn("servercert.pem: no subjectAltName", problem)

    def test_clientWithoutClientAuth(self) -> None:
        """
        A client certificate without clientAuth (here: a server certificate
        copied into place) is reported.
        """
        for src, dst in [("servercert.pem", "clientcert.pem"), ("serverkey.pem", "clientkey.pem")]:
            shutil.copy(os.path.join(self.server, src), os.path.join(self.client, dst))
        self.assertEqual(
            self.check(self.client),
            [f"{self.client}/clientcert.pem: extendedKeyUsage lacks clientAuth"],
        )

    def test_caNotCA(self) -> None:
        """
        A C{cacert.pem} that is not a CA certificate is reported.
        """
        shutil.copy(os.path.join(self.server, "servercert.pem"),
                    os.path.join(self.server, "cacert.pem"))
        problems = self.check(self.server)
        self.assertIn(f"{self.server}/cacert.pem: not a CA certificate "
                      f"(basicConstraints CA:TRUE missing)", problems)


class CommandLineTests(SynchronousTestCase):
    """
    C{python -m virtd.pki}.
    """

    def runMain(self, *argv: str) -> tuple[int, str, str]:
        out, err = io.StringIO(), io.StringIO()
        self.patch(sys, "stdout", out)
        self.patch(sys, "stderr", err)
        try:
            status = pki.main(argv)
        except SystemExit as e:
            status = e.code  # type: ignore[assignment]
        return status, out.getvalue(), err.getvalue()

    def test_initAndCheck(self) -> None:
        """
        C{init} writes the three directories; C{--check} on the top directory
        checks both layouts, and on one pkipath checks that one.
        """
        d = self.mktemp()
        status, out, _ = self.runMain(
            "init", d, "--server-name", "localhost", "--server-name", "h.example",
            "--server-ip", "127.0.0.1", "--client-dn", "C=GB,O=virtd,CN=client9",
        )
        self.assertEqual(status, 0)
        self.assertIn(f"client pkipath: {d}/client", out)
        client = x509.load_pem_x509_certificate(
            open(os.path.join(d, "client", "clientcert.pem"), "rb").read()
        )
        self.assertEqual(pki.formatDN(client.subject), "C=GB,O=virtd,CN=client9")
        server = x509.load_pem_x509_certificate(
            open(os.path.join(d, "server", "servercert.pem"), "rb").read()
        )
        self.assertEqual(
            _ext(server, x509.SubjectAlternativeName).get_values_for_type(x509.DNSName),
            ["localhost", "h.example"],
        )

        status, out, _ = self.runMain("--check", d)
        self.assertEqual((status, out),
                         (0, f"{d}/server: OK (server pkipath)\n{d}/client: OK (client pkipath)\n"))
        status, out, _ = self.runMain("--check", f"{d}/client")
        self.assertEqual((status, out), (0, f"{d}/client: OK (client pkipath)\n"))

    def test_checkReportsProblems(self) -> None:
        """
        C{--check} lists every problem and exits 1.
        """
        d = self.mktemp()
        pki.writeClientLayout(d, _CA)
        os.remove(os.path.join(d, "clientkey.pem"))
        status, out, _ = self.runMain("--check", d)
        self.assertEqual(status, 1)
        self.assertEqual(out, f"{d}: 1 problem(s):\n  {d}/clientkey.pem: missing\n")

    def test_clientCommand(self) -> None:
        """
        C{client} issues another client pkipath from an existing CA.
        """
        d = self.mktemp()
        layout = pki.initPKI(d)
        status, _, _ = self.runMain("client", layout.caDir, f"{d}/c2", "--dn", "O=virtd,CN=two")
        self.assertEqual(status, 0)
        self.assertEqual(pki.checkLayout(f"{d}/c2"), ("client", []))

    def test_errors(self) -> None:
        """
        Bad input gives a message and a non-zero status, never a traceback.
        """
        status, _, err = self.runMain()
        self.assertEqual(status, 2)
        self.assertIn("nothing to do", err)
        status, _, err = self.runMain("init", self.mktemp(), "--client-dn", "bogus")
        self.assertEqual(status, 1)
        self.assertIn("'bogus' is not KEY=value", err)
        status, _, err = self.runMain("client", self.mktemp(), self.mktemp(), "--dn", "CN=x")
        self.assertEqual(status, 1)
        self.assertIn("cacert.pem", err)

    def test_pythonDashM(self) -> None:
        """
        C{python -m virtd.pki} runs L{pki.main}.
        """
        d = self.mktemp()
        result = subprocess.run(
            [sys.executable, "-m", "virtd.pki", "init", d], capture_output=True, text=True,
            timeout=60,
        )
        self.assertEqual(result.returncode, 0, result.stderr)
        result = subprocess.run(
            [sys.executable, "-m", "virtd.pki", "--check", f"{d}/server"],
            capture_output=True, text=True, timeout=60,
        )
        self.assertEqual((result.returncode, result.stdout),
                         (0, f"{d}/server: OK (server pkipath)\n"))


class RealLibvirtTests(TestCase):
    """
    A real libvirtd serves TLS with the generated server layout and real
    virsh connects with the generated client layout.
    """

    def setUp(self) -> None:
        self.pkiDir = os.path.abspath(self.mktemp())
        self.layout = pki.initPKI(self.pkiDir, clientDN="C=GB,O=virtd,CN=client1")

    def test_virshOverTLS(self) -> None:
        """
        C{virsh -c test+tls://127.0.0.1:PORT/default?pkipath=...} lists the
        test domain.
        """
        daemon = RealLibvirtd.forTest(
            self, tcp=False, tls=True, serverPki=self.layout.serverDir,
            clientPki=self.layout.clientDir,
        )
        uri = daemon.uri("tls")
        self.assertEqual(
            uri,
            f"test+tls://127.0.0.1:{daemon.tlsPort}/default?pkipath={self.layout.clientDir}",
        )
        rc, out, err = runVirsh(uri, "list --all")
        self.assertEqual(rc, 0, err)
        self.assertIn(" test ", out)
        # The DNS name in subjectAltName works as well as the IP.
        rc, out, err = runVirsh(daemon.uri("tls", host="localhost"), "list --all")
        self.assertEqual(rc, 0, err)
        self.assertIn(" test ", out)

    def test_allowedDNUsesOurSpelling(self) -> None:
        """
        libvirtd's C{tls_allowed_dn_list} matches the DN exactly as
        L{pki.formatDN} writes it, and refuses another client's DN.
        """
        other = os.path.join(self.pkiDir, "other")
        pki.writeClientLayout(other, pki.loadCA(self.layout.caDir), "C=GB,O=virtd,CN=client2")
        daemon = RealLibvirtd.forTest(
            self, tcp=False, tls=True, serverPki=self.layout.serverDir,
            clientPki=self.layout.clientDir, allowedDNs=["C=GB,O=virtd,CN=client1"],
        )
        rc, out, err = runVirsh(daemon.uri("tls"), "list --all")
        self.assertEqual(rc, 0, err)
        self.assertIn(" test ", out)
        rc, out, err = runVirsh(
            f"test+tls://127.0.0.1:{daemon.tlsPort}/default?pkipath={other}", "list --all"
        )
        self.assertNotEqual(rc, 0)
        with open(daemon.logFile) as f:
            self.assertIn("not on the list of allowed clients", f.read())

    def test_foreignClientRefused(self) -> None:
        """
        A client certificate from another CA is refused by the real daemon,
        and C{--check} against the server's CA explains why.
        """
        foreign = os.path.join(self.pkiDir, "foreign")
        pki.writeClientLayout(foreign, _OTHER_CA)
        daemon = RealLibvirtd.forTest(
            self, tcp=False, tls=True, serverPki=self.layout.serverDir,
            clientPki=self.layout.clientDir,
        )
        rc, out, err = runVirsh(
            f"test+tls://127.0.0.1:{daemon.tlsPort}/default?pkipath={foreign}", "list --all"
        )
        self.assertNotEqual(rc, 0)
        shutil.copy(os.path.join(self.layout.serverDir, "cacert.pem"),
                    os.path.join(foreign, "cacert.pem"))
        [problem] = pki.checkLayout(foreign)[1]
        self.assertIn("not signed by", problem)
