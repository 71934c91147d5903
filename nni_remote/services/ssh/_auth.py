"""Who a machine is and how to prove who we are: ssh_config, host keys, login.

Helpers of :mod:`nni_remote.services.ssh` (use that module, not this one).
Secrets (password, passphrase) are only handed to paramiko; they never
appear in a log line or an exception message written here.
"""
from __future__ import annotations

import base64
import dataclasses
import getpass
import hashlib
import logging
import os
import shlex
import threading
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Tuple

import paramiko

from ...errors import AuthFailed, HostKeyMismatch, HostUnreachable

if TYPE_CHECKING:  # pragma: no cover
    from ._target import SshTarget

log = logging.getLogger("nni_remote.ssh")

DEFAULT_KEY_FILES = ("~/.ssh/id_ed25519", "~/.ssh/id_ecdsa", "~/.ssh/id_rsa")
SYSTEM_KNOWN_HOSTS = "/etc/ssh/ssh_known_hosts"
_pin_lock = threading.Lock()


@dataclasses.dataclass
class Resolved:
    """Where and as whom to connect, after merging ``~/.ssh/config`` under the machine config."""

    hostname: str
    port: int
    user: str
    identity_files: List[str]
    proxy_jump: Optional[str]
    proxy_command: Optional[str]
    known_hosts: str
    known_hosts_explicit: bool


def resolve(target: "SshTarget") -> Resolved:
    """Apply ``~/.ssh/config`` (or ``target.ssh_config_file``) where the machine config is silent.

    The machine config wins for user and key; port 22 counts as "not said"
    (it is the config default), so a ``Port`` line in ssh_config applies.
    """
    entry: dict[str, Any] = {}
    if target.use_ssh_config:
        path = os.path.expanduser(target.ssh_config_file or "~/.ssh/config")
        if os.path.isfile(path):
            try:
                entry = paramiko.SSHConfig.from_path(path).lookup(target.host)
            except Exception as exc:  # a broken ssh_config must not hide the machine config
                log.warning("%s: ignoring unreadable ssh config %s: %s", target.display, path, exc)
    hostname = entry.get("hostname", target.host) or target.host
    port = target.port if target.port not in (None, 22) else int(entry.get("port", 22))
    user = target.user or entry.get("user") or getpass.getuser()
    identity = [os.path.expanduser(p) for p in entry.get("identityfile", [])]
    jump = target.proxy_jump or entry.get("proxyjump")
    command = entry.get("proxycommand")
    known = target.known_hosts or os.environ.get("NNI_REMOTE_KNOWN_HOSTS")
    explicit = bool(known)
    if not known and entry.get("userknownhostsfile"):
        known = shlex.split(entry["userknownhostsfile"])[0]
    return Resolved(
        hostname=hostname, port=port, user=user, identity_files=identity,
        proxy_jump=None if not jump or jump.lower() == "none" else jump,
        proxy_command=None if not command or command.lower() == "none" else command,
        known_hosts=os.path.expanduser(known or "~/.ssh/known_hosts"), known_hosts_explicit=explicit)


# ------------------------------------------------------------------ host keys

def host_key_name(hostname: str, port: int) -> str:
    """The name a host has in known_hosts: ``host`` on port 22, else ``[host]:port``."""
    return hostname if port == 22 else f"[{hostname}]:{port}"


def fingerprint(key: paramiko.PKey) -> str:
    """OpenSSH-style ``SHA256:...`` fingerprint."""
    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


def _load_known(paths: List[str]) -> paramiko.HostKeys:
    keys = paramiko.HostKeys()
    for path in paths:
        if os.path.isfile(path):
            try:
                keys.load(path)
            except (OSError, paramiko.SSHException) as exc:
                log.warning("cannot read known_hosts file %s: %s", path, exc)
    return keys


def _known_paths(r: Resolved) -> List[str]:
    return [r.known_hosts] if r.known_hosts_explicit else [r.known_hosts, SYSTEM_KNOWN_HOSTS]


def known_key_types(r: Resolved) -> List[str]:
    """Key types known_hosts has for this host (to ask the server for one of those), or []."""
    entry = _load_known(_known_paths(r)).lookup(host_key_name(r.hostname, r.port))
    return list(entry.keys()) if entry else []


def check_host_key(display: str, r: Resolved, key: paramiko.PKey, accept_new: bool) -> None:
    """Accept a known key; refuse a changed one; refuse or pin (``accept_new``) an unknown one."""
    name = host_key_name(r.hostname, r.port)
    entry = _load_known(_known_paths(r)).lookup(name)
    kind = key.get_name()
    if entry and kind in entry:
        if entry[kind] == key:
            return
        raise HostKeyMismatch(display, (
            f"host key CHANGED: {r.known_hosts} has {kind} {fingerprint(entry[kind])} for {name} but the "
            f"host sent {fingerprint(key)}. This may be an attack, or the host was reinstalled; if you "
            f"trust the new key, remove the old one with `ssh-keygen -f {r.known_hosts} -R '{name}'` "
            f"and connect again"))
    if entry:  # known, but not with this key type (we asked for the known ones first)
        raise HostKeyMismatch(display, (
            f"host key of {name} is {kind} {fingerprint(key)}, but {r.known_hosts} only has "
            f"{', '.join(entry.keys())} for it; if the host was reinstalled, remove the old entry with "
            f"`ssh-keygen -f {r.known_hosts} -R '{name}'`"))
    if not accept_new:
        port_opt = "" if r.port == 22 else f"-p {r.port} "
        raise HostKeyMismatch(display, (
            f"host key of {name} is unknown ({kind} {fingerprint(key)}); not in {r.known_hosts}. "
            f"If that fingerprint is right, add it with `ssh-keyscan {port_opt}-t {kind} {r.hostname} "
            f">> {r.known_hosts}` (or log in once with ssh), or set acceptNewHostKey: true on this "
            f"machine to record it on first connect"))
    _pin(r.known_hosts, name, key)
    log.warning("%s: recorded new host key %s %s for %s in %s (acceptNewHostKey)",
                display, kind, fingerprint(key), name, r.known_hosts)


def _pin(path: str, name: str, key: paramiko.PKey) -> None:
    with _pin_lock:
        entry = _load_known([path]).lookup(name)
        if entry and key.get_name() in entry:
            return  # another connection pinned it meanwhile
        directory = os.path.dirname(path)
        if directory and not os.path.isdir(directory):
            os.makedirs(directory, mode=0o700, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        with os.fdopen(fd, "a") as fh:
            fh.write(f"{name} {key.get_name()} {key.get_base64()}\n")


# ------------------------------------------------------------------ login

_key_cache: Dict[Tuple[Any, ...], paramiko.PKey] = {}
_key_cache_lock = threading.Lock()


def load_key(display: str, path: str, passphrase: Optional[str]) -> paramiko.PKey:
    """Load a private key file; errors say which file and what to fix, never the passphrase.

    Decrypting a passphrase-protected OpenSSH key costs ~100 ms of bcrypt, so a
    loaded key is kept in memory for as long as the file is unchanged.
    """
    path = os.path.expanduser(path)
    try:
        st = os.stat(path)
        cache_key = (path, st.st_mtime_ns, st.st_size, st.st_ino,
                     hashlib.sha256(passphrase.encode()).digest() if passphrase is not None else None)
    except OSError:
        cache_key = None
    with _key_cache_lock:
        key = _key_cache.get(cache_key) if cache_key else None
    if key is None:
        key = _load_key(display, path, passphrase)
        if cache_key:
            with _key_cache_lock:
                _key_cache[cache_key] = key
    return key


def _load_key(display: str, path: str, passphrase: Optional[str]) -> paramiko.PKey:
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives import serialization

    password = passphrase.encode() if passphrase is not None else None
    try:  # the usual case first: one decode in cryptography, one in paramiko
        return paramiko.PKey.from_path(path, password)  # 'passphrase' (3.x) / 'password' (5.x)
    except Exception:
        pass  # find out what is wrong, below
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except FileNotFoundError:
        raise AuthFailed(display, f"key file {path} does not exist") from None
    except OSError as exc:
        raise AuthFailed(display, f"key file {path} is not readable: {exc.strerror}") from None
    loader = (serialization.load_ssh_private_key if b"BEGIN OPENSSH PRIVATE KEY" in data
              else serialization.load_pem_private_key)

    def encrypted() -> bool:
        try:
            loader(data, None)
        except TypeError:
            return True  # "password-protected, but password was not provided"
        except Exception:
            return False
        return False

    try:
        loader(data, password)
    except TypeError:
        if password is None:
            raise AuthFailed(display, f"key file {path} is encrypted; set sshPassphrase") from None
        password = None  # a passphrase for an unencrypted key: ignore it, like ssh does
    except ValueError:
        if password is not None and encrypted():
            raise AuthFailed(display, f"cannot decrypt key file {path}: wrong sshPassphrase?") from None
        raise AuthFailed(display, f"key file {path} is not a private key in a format paramiko reads "
                                  f"(OpenSSH or PEM)") from None
    except UnsupportedAlgorithm:
        raise AuthFailed(display, f"key file {path} has a key type this system cannot use") from None
    try:
        return paramiko.PKey.from_path(path, password)  # 'passphrase' (3.x) / 'password' (5.x)
    except Exception as exc:
        raise AuthFailed(display, f"cannot use key file {path}: {type(exc).__name__}") from None


def _clean(exc: BaseException) -> str:
    return str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__


def _candidate_keys(display: str, target: "SshTarget", r: Resolved) -> List[Tuple[str, Any]]:
    """(description, key) pairs to offer when no key file is configured: agent, IdentityFile, defaults."""
    keys: List[Tuple[str, Any]] = []
    if os.environ.get("SSH_AUTH_SOCK"):
        try:
            for k in paramiko.Agent().get_keys():
                keys.append((f"ssh-agent {k.get_name()} {fingerprint(k)}", k))
        except Exception as exc:  # agent gone or unreadable: not fatal
            log.debug("%s: ssh-agent not usable: %s", display, exc)
    seen = set()
    for path in r.identity_files + [os.path.expanduser(p) for p in DEFAULT_KEY_FILES]:
        if path in seen or not os.path.isfile(path):
            continue
        seen.add(path)
        try:
            keys.append((path, load_key(display, path, target.passphrase)))
        except AuthFailed as exc:
            log.debug("%s: skipping key: %s", display, exc)
    return keys


def authenticate(transport: paramiko.Transport, target: "SshTarget", r: Resolved, display: str) -> None:
    """Log in: password (plus keyboard-interactive answered with it), else key file, else agent/defaults."""
    try:
        if target.password is not None:
            _auth_password(transport, target.password, r.user, display)
            return
        if target.key_file:
            keys = [(target.key_file, load_key(display, target.key_file, target.passphrase))]
        else:
            keys = _candidate_keys(display, target, r)
            if not keys:
                raise AuthFailed(display, (
                    "no password and no usable key: set password or sshKeyFile, load a key into "
                    "ssh-agent, or put one in ~/.ssh (or name it with IdentityFile in ~/.ssh/config)"))
        rejected = []
        for description, key in keys:
            try:
                transport.auth_publickey(r.user, key)
                return
            except paramiko.BadAuthenticationType as exc:
                raise AuthFailed(display, f"the server does not accept keys for {r.user} "
                                          f"(it allows: {', '.join(exc.allowed_types) or 'nothing'})") from None
            except paramiko.AuthenticationException as exc:
                if "timeout" in str(exc).lower():
                    raise
                rejected.append(description)
                if not transport.is_active():
                    break
        raise AuthFailed(display, f"key rejected for user {r.user}: {', '.join(rejected)}")
    except paramiko.AuthenticationException as exc:
        if "timeout" in str(exc).lower():
            raise HostUnreachable(display, "no answer to the login request in time") from None
        raise AuthFailed(display, f"login as {r.user} failed: {_clean(exc)}") from None


def _auth_password(transport: paramiko.Transport, password: str, user: str, display: str) -> None:
    try:
        transport.auth_password(user, password)
        return
    except paramiko.BadAuthenticationType as exc:
        allowed = exc.allowed_types
        if "keyboard-interactive" not in allowed:
            raise AuthFailed(display, f"the server does not accept passwords for {user} "
                                      f"(it allows: {', '.join(allowed) or 'nothing'})") from None
    except paramiko.AuthenticationException as exc:
        if "timeout" in str(exc).lower():
            raise
        raise AuthFailed(display, f"password rejected for user {user}") from None

    def answer(_title: str, _instructions: str, prompts: list[Any]) -> list[Any]:
        return [password if not echo else "" for _prompt, echo in prompts]

    try:
        transport.auth_interactive(user, answer)
    except paramiko.AuthenticationException as exc:
        if "timeout" in str(exc).lower():
            raise
        raise AuthFailed(display, f"password rejected for user {user} (keyboard-interactive)") from None
