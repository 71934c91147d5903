"""At-rest encryption of the secrets a manager must keep to resume an experiment.

The manager stores the canonical config with passwords masked; the real values
go, encrypted with a per-user Fernet key, into a separate blob. The key lives
in ``~/.nni-remote/secret.key`` (file mode 0600, folder 0700) unless told otherwise.
"""
from __future__ import annotations

import copy
import json
import os
import tempfile
from typing import Any, Dict, List, Optional, Tuple, Union

from cryptography.fernet import Fernet, InvalidToken

from ..errors import ConfigError
from .base import MASK, normalize_key

DEFAULT_KEY_PATH = "~/.nni-remote/secret.key"
_SECRET_KEYS = ("password", "sshpassphrase")
_OPAQUE_KEYS = ("classargs", "searchspace")  # user data: never treated as config keys
Segment = Union[str, int]


def _find_secrets(data: Any, path: List[Segment], found: List[Tuple[List[Segment], str]]) -> None:
    if isinstance(data, dict):
        for key, value in data.items():
            norm = normalize_key(key) if isinstance(key, str) else ""
            if norm in _SECRET_KEYS and isinstance(value, str) and value != MASK:
                found.append((path + [key], value))
            elif norm not in _OPAQUE_KEYS:
                _find_secrets(value, path + [key], found)
    elif isinstance(data, list):
        for index, item in enumerate(data):
            _find_secrets(item, path + [index], found)


def _show(path: List[Segment]) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else (f".{p}" if i else p) for i, p in enumerate(path))


class SecretBox:
    """Encrypts strings with a Fernet key kept in a private file.

    The key file is created on first use. Anyone who can read it can decrypt,
    so it is created 0600 in a 0700 folder. Tokens are URL-safe ASCII strings.
    """

    def __init__(self, key_path: Optional[str] = None) -> None:
        self.key_path = os.path.expanduser(key_path or DEFAULT_KEY_PATH)
        self._fernet: Optional[Fernet] = None

    def _key(self) -> Fernet:
        if self._fernet is None:
            if not os.path.exists(self.key_path):
                self._create_key()
            with open(self.key_path, "rb") as file:
                key = file.read().strip()
            try:
                self._fernet = Fernet(key)
            except ValueError:
                raise ConfigError([("", f"the key file {self.key_path} is not a valid secret key "
                                        "(delete it only if no stored experiment needs it)")]) from None
        return self._fernet

    def _create_key(self) -> None:
        """Write a new key atomically: two processes racing end up sharing one key."""
        folder = os.path.dirname(os.path.abspath(self.key_path))
        if not os.path.isdir(folder):
            os.makedirs(folder, mode=0o700, exist_ok=True)
            os.chmod(folder, 0o700)
        fd, temp = tempfile.mkstemp(dir=folder, prefix=".secret-key-")  # created 0600
        try:
            with os.fdopen(fd, "wb") as file:
                file.write(Fernet.generate_key() + b"\n")
            try:
                os.link(temp, self.key_path)
            except FileExistsError:
                pass  # another process won; use its key
        finally:
            os.unlink(temp)

    def encrypt(self, text: str) -> str:
        """Encrypt ``text``; the token is safe to store in files and databases."""
        return self._key().encrypt(text.encode("utf-8")).decode("ascii")

    def decrypt(self, token: str) -> str:
        """Decrypt a token from :meth:`encrypt`; ``ConfigError`` if it was made with another key."""
        try:
            return self._key().decrypt(token.encode("ascii")).decode("utf-8")
        except (InvalidToken, UnicodeError, ValueError):
            raise ConfigError([("", f"stored secrets cannot be decrypted with the key in {self.key_path} "
                                    "(a different key, or corrupted data)")]) from None

    def seal_config(self, config: Dict[str, Any]) -> Tuple[Dict[str, Any], str]:
        """Split a config JSON with secrets into ``(masked copy, encrypted secrets blob)``.

        The blob holds each secret with its path (``to_json(include_secrets=True)``
        output in, ``to_json()``-like output out).
        """
        found: List[Tuple[List[Segment], str]] = []
        _find_secrets(config, [], found)
        masked = copy.deepcopy(config)
        for path, _ in found:
            target: Any = masked
            for part in path[:-1]:
                target = target[part]
            target[path[-1]] = MASK
        return masked, self.encrypt(json.dumps([[path, value] for path, value in found]))

    def unseal_config(self, masked: Dict[str, Any], blob: str) -> Dict[str, Any]:
        """Put the secrets of ``blob`` back into a copy of ``masked``."""
        restored = copy.deepcopy(masked)
        for path, value in json.loads(self.decrypt(blob)):
            target: Any = restored
            try:
                for part in path[:-1]:
                    target = target[part]
                if path[-1] not in target:
                    raise KeyError(path[-1])
            except (KeyError, IndexError, TypeError):
                raise ConfigError([(_show(path), "the config no longer has this secret's place")]) from None
            target[path[-1]] = value
        return restored
