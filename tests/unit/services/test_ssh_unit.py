"""Pure logic of nni_remote.services.ssh and the rig's skip rules; no sockets are opened here."""
from __future__ import annotations

import os
import subprocess
from typing import Any

import paramiko
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from nni_remote.errors import AuthFailed, HostKeyMismatch, SshError
from nni_remote.services import ssh as ssh_mod
from nni_remote.services.ssh import _auth as ssh_auth
from nni_remote.services.ssh import (CommandFailed, ProbeFailed, RemoteFileNotFound, RunResult, SshConnection,
                                     SshTarget, connect_all)
from nni_remote.services.ssh._probe import parse_probe_output, probe_script
from nni_remote.services.ssh._transport import backoff_delay


def make_key(path: Any, passphrase: str = "") -> paramiko.PKey:
    private = ed25519.Ed25519PrivateKey.generate()
    encryption = (serialization.BestAvailableEncryption(passphrase.encode()) if passphrase
                  else serialization.NoEncryption())
    path.write_bytes(private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                                           encryption))
    os.chmod(path, 0o600)
    return paramiko.PKey.from_path(str(path), passphrase.encode() if passphrase else None)


# ---------------------------------------------------------------- SshTarget

def test_target_from_machine_config_object() -> None:
    from nni_remote.config import RemoteMachineConfig
    machine = RemoteMachineConfig(host="10.0.0.5", port=2222, user="alice", password="pw-123",
                                  accept_new_host_key=True, ssh_config=False, name="gpu1")
    t = SshTarget.from_machine(machine)
    assert (t.host, t.port, t.user, t.password, t.name) == ("10.0.0.5", 2222, "alice", "pw-123", "gpu1")
    assert t.accept_new_host_key and not t.use_ssh_config
    assert "pw-123" not in repr(t)


def test_target_from_camel_case_dict_and_overrides(tmp_path: Any) -> None:
    t = SshTarget.from_machine({"host": "h", "user": "u", "sshKeyFile": "/k", "sshPassphrase": "pp-9"},
                               known_hosts=str(tmp_path / "kh"), name="n")
    assert (t.key_file, t.passphrase, t.port, t.known_hosts, t.display) == ("/k", "pp-9", 22, str(tmp_path / "kh"), "n")
    assert t.use_ssh_config and not t.accept_new_host_key
    assert "pp-9" not in repr(t)
    assert SshTarget(host="h", port=2200).display == "h:2200"
    with pytest.raises(ValueError):
        SshTarget.from_machine({"user": "u"})


def test_result_and_error_types() -> None:
    result = RunResult(2, "out", "it broke\n")
    err = CommandFailed("m1", "do-thing --flag", result)
    assert isinstance(err, SshError) and err.host == "m1" and err.result is result
    assert "exited 2" in str(err) and "it broke" in str(err)
    missing = RemoteFileNotFound("m1", "/x: no such file")
    assert isinstance(missing, FileNotFoundError) and isinstance(missing, SshError)
    assert str(missing) == "m1: /x: no such file"


def test_backoff_grows_with_jitter_and_cap() -> None:
    for attempt in range(8):
        value = backoff_delay(attempt, base=0.1, cap=2.0)
        assert 0.5 * min(2.0, 0.1 * 2 ** attempt) <= value <= 1.5 * min(2.0, 0.1 * 2 ** attempt)


# ---------------------------------------------------------------- ssh_config

def test_resolve_applies_ssh_config_where_machine_is_silent(tmp_path: Any, monkeypatch: Any) -> None:
    monkeypatch.delenv("NNI_REMOTE_KNOWN_HOSTS", raising=False)
    config = tmp_path / "config"
    config.write_text("Host box\n  HostName 10.1.2.3\n  User bob\n  Port 2201\n  IdentityFile ~/.ssh/box_key\n"
                      "  ProxyJump gate\n  UserKnownHostsFile /etc/kh_box\n")
    r = ssh_auth.resolve(SshTarget(host="box", ssh_config_file=str(config)))
    assert (r.hostname, r.port, r.user, r.proxy_jump) == ("10.1.2.3", 2201, "bob", "gate")
    assert r.identity_files == [os.path.expanduser("~/.ssh/box_key")]
    assert r.known_hosts == "/etc/kh_box" and not r.known_hosts_explicit
    r2 = ssh_auth.resolve(SshTarget(host="box", port=2022, user="carol", ssh_config_file=str(config),
                                    known_hosts=str(tmp_path / "kh")))
    assert (r2.port, r2.user, r2.known_hosts, r2.known_hosts_explicit) == (2022, "carol", str(tmp_path / "kh"), True)
    r3 = ssh_auth.resolve(SshTarget(host="box", user="u", use_ssh_config=False, ssh_config_file=str(config)))
    assert (r3.hostname, r3.port, r3.proxy_jump) == ("box", 22, None)
    monkeypatch.setenv("NNI_REMOTE_KNOWN_HOSTS", str(tmp_path / "env_kh"))
    assert ssh_auth.resolve(SshTarget(host="x", user="u")).known_hosts == str(tmp_path / "env_kh")


# ---------------------------------------------------------------- host keys

def resolved(tmp_path: Any, port: int = 22) -> ssh_auth.Resolved:
    return ssh_auth.Resolved(hostname="10.9.8.7", port=port, user="u", identity_files=[], proxy_jump=None,
                             proxy_command=None, known_hosts=str(tmp_path / "kh"), known_hosts_explicit=True)


def test_unknown_host_key_message_says_how_to_accept(tmp_path: Any) -> None:
    key = make_key(tmp_path / "hostkey")
    with pytest.raises(HostKeyMismatch) as info:
        ssh_auth.check_host_key("m", resolved(tmp_path, 2222), key, accept_new=False)
    text = str(info.value)
    assert f"ssh-keyscan -p 2222 -t ssh-ed25519 10.9.8.7 >> {tmp_path / 'kh'}" in text
    assert "[10.9.8.7]:2222" in text and "acceptNewHostKey: true" in text and ssh_auth.fingerprint(key) in text
    assert not (tmp_path / "kh").exists()


def test_accept_new_pins_once_and_then_rejects_a_changed_key(tmp_path: Any) -> None:
    key, other = make_key(tmp_path / "k1"), make_key(tmp_path / "k2")
    r = resolved(tmp_path)
    ssh_auth.check_host_key("m", r, key, accept_new=True)
    ssh_auth.check_host_key("m", r, key, accept_new=True)
    ssh_auth.check_host_key("m", r, key, accept_new=False)
    lines = (tmp_path / "kh").read_text().splitlines()
    assert lines == [f"10.9.8.7 ssh-ed25519 {key.get_base64()}"]
    assert (tmp_path / "kh").stat().st_mode & 0o777 == 0o600
    with pytest.raises(HostKeyMismatch, match="CHANGED") as info:
        ssh_auth.check_host_key("m", r, other, accept_new=True)
    assert f"ssh-keygen -f {tmp_path / 'kh'} -R '10.9.8.7'" in str(info.value)
    assert ssh_auth.known_key_types(r) == ["ssh-ed25519"]


# ---------------------------------------------------------------- key files

def test_key_file_errors_are_clear_and_secret_free(tmp_path: Any) -> None:
    make_key(tmp_path / "enc", passphrase="s3cret-pass")
    make_key(tmp_path / "plain")
    (tmp_path / "junk").write_text("not a key\n")
    with pytest.raises(AuthFailed, match="encrypted; set sshPassphrase"):
        ssh_auth.load_key("m", str(tmp_path / "enc"), None)
    with pytest.raises(AuthFailed, match="wrong sshPassphrase") as info:
        ssh_auth.load_key("m", str(tmp_path / "enc"), "guess-pass")
    assert "guess-pass" not in str(info.value)
    assert ssh_auth.load_key("m", str(tmp_path / "enc"), "s3cret-pass").get_name() == "ssh-ed25519"
    assert ssh_auth.load_key("m", str(tmp_path / "plain"), "ignored").get_name() == "ssh-ed25519"
    with pytest.raises(AuthFailed, match="not a private key"):
        ssh_auth.load_key("m", str(tmp_path / "junk"), None)
    with pytest.raises(AuthFailed, match="does not exist"):
        ssh_auth.load_key("m", str(tmp_path / "nope"), None)


# ---------------------------------------------------------------- probe

def run_probe_locally(python_path: Any = None, env_path: str = "/usr/local/bin:/usr/bin:/bin") -> str:
    script = probe_script(python_path, check_nni=False)
    return subprocess.run(["/bin/sh", "-c", script], capture_output=True, text=True, timeout=30,
                          env={"HOME": os.path.expanduser("~"), "PATH": env_path}).stdout


def test_probe_script_runs_in_posix_sh() -> None:
    result = parse_probe_output("m", run_probe_locally())
    assert result.python.endswith("python3") and result.python_version >= (3, 8, 0)
    assert result.home == os.path.expanduser("~") and result.disk_free_bytes
    assert result.nni_version is None and result.nni_error is None  # nni check skipped
    with pytest.raises(ProbeFailed, match="no python3 on PATH"):
        parse_probe_output("m", run_probe_locally(env_path="/nonexistent"))
    with pytest.raises(ProbeFailed, match="is a file"):
        parse_probe_output("m", run_probe_locally("/bin/sh"), "/bin/sh")
    with pytest.raises(ProbeFailed, match="does not exist"):
        parse_probe_output("m", run_probe_locally("/no where/bin"), "/no where/bin")


def test_probe_script_quotes_python_path() -> None:
    script = probe_script("/opt/my env/bin; rm -rf /")
    assert "PP='/opt/my env/bin; rm -rf /'" in script
    assert "PP=\"$HOME\"/miniconda3/bin" in probe_script("~/miniconda3/bin")


def test_parse_probe_output_cases() -> None:
    base = ("__nrprobe__ home=/home/u\n__nrprobe__ path=/usr/bin\n__nrprobe__ uname=Linux 6.1 x86_64\n"
            "__nrprobe__ df=/dev/sda1 1000 10 2048 1% /\n__nrprobe__ python=/usr/bin/python3\n"
            "__nrprobe__ pyver_rc=0\n")
    ok = parse_probe_output("m", "banner from .bashrc\n" + base + "__nrprobe__ pyver=3.10.12\n"
                            "__nrprobe__ nni_rc=0\n__nrprobe__ nni=3.0\n")
    assert ok.python_version == (3, 10, 12) and ok.nni_version == "3.0" and ok.nni_importable
    assert ok.disk_free_bytes == 2048 * 1024 and ok.uname == "Linux 6.1 x86_64"
    no_nni = parse_probe_output("m", base + "__nrprobe__ pyver=3.9.2\n__nrprobe__ nni_rc=1\n"
                                "__nrprobe__ nni=ModuleNotFoundError: No module named 'nni'\n")
    assert not no_nni.nni_importable and "No module named" in (no_nni.nni_error or "")
    with pytest.raises(ProbeFailed, match=r"Python 3\.7\.3; nni-remote needs Python >= 3\.8"):
        parse_probe_output("m", base + "__nrprobe__ pyver=3.7.3\n")
    with pytest.raises(ProbeFailed, match="did not report its version"):
        parse_probe_output("m", base + "__nrprobe__ pyver=Traceback\n")
    with pytest.raises(ProbeFailed, match="printed nothing usable"):
        parse_probe_output("m", "garbage\n")
    with pytest.raises(ProbeFailed, match="no executable python3"):
        parse_probe_output("m", "__nrprobe__ pp=nopython\n" + base, "/opt/x")


# ---------------------------------------------------------------- connect_all

def test_connect_all_returns_every_host_in_order(monkeypatch: Any) -> None:
    def fake_connect(self: SshConnection) -> None:
        if self.target.host == "bad":
            raise AuthFailed(self.name, "password rejected for user u")
        if self.target.host == "bug":
            raise RuntimeError("boom")

    monkeypatch.setattr(ssh_mod.SshConnection, "connect", fake_connect)
    targets = [SshTarget(host="ok"), SshTarget(host="bad"), SshTarget(host="bug"), SshTarget(host="ok")]
    results = connect_all(targets)
    assert list(results) == ["ok", "bad", "bug", "ok#2"]
    assert isinstance(results["ok"], SshConnection) and isinstance(results["ok#2"], SshConnection)
    assert isinstance(results["bad"], AuthFailed)
    assert isinstance(results["bug"], SshError) and "RuntimeError: boom" in str(results["bug"])
    assert connect_all([]) == {}


# ---------------------------------------------------------------- the rig's skip rules

def test_rig_tests_skip_with_a_message_when_not_root(monkeypatch: Any) -> None:
    from tests.integration.remote import conftest as rig_conftest
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    reason = rig_conftest.rig_skip_reason()
    assert reason is not None and "missing: root" in reason


def test_rig_tests_skip_with_a_message_without_tools(monkeypatch: Any) -> None:
    from tests.integration.remote import conftest as rig_conftest
    sshrig = rig_conftest.sshrig
    monkeypatch.setattr(sshrig.shutil, "which", lambda name: None)
    monkeypatch.setattr(sshrig.os, "access", lambda path, mode: False)
    reason = rig_conftest.rig_skip_reason() or ""
    for needed in ("/usr/sbin/sshd", "nft (nftables)", "ip (iproute2)", "unshare"):
        assert needed in reason
