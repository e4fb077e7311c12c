"""Where the dashboard connects: a tiny TOML settings file, the environment, and the keyring.

The settings file (platformdirs' user config dir, `config.toml`; `$CREDITDESK_CONFIG`
points elsewhere) holds only the server URL and the default context. The token lives in
the system keyring (service "creditdesk", username = the URL) and is never written to the
file. `CREDITDESK_URL` and `CREDITDESK_TOKEN` override both, for machines without a keyring
(CI, containers, SSH sessions).
"""

from __future__ import annotations

import json
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path

KEYRING_SERVICE = "creditdesk"
CONFIG_ENV = "CREDITDESK_CONFIG"
URL_ENV = "CREDITDESK_URL"
TOKEN_ENV = "CREDITDESK_TOKEN"
KEYS = ("url", "context")


class ConfigError(Exception):
    """A setting is missing or wrong; the message says which file and key, and what to do."""


class NoKeyring(ConfigError):
    """This machine has no usable keyring backend."""


@dataclass(frozen=True)
class Settings:
    url: str | None = None
    context: str | None = None


@dataclass(frozen=True)
class Connection:
    url: str
    token: str
    context: str | None


def settings_path() -> Path:
    override = os.environ.get(CONFIG_ENV)
    if override:
        return Path(override)
    import platformdirs
    return Path(platformdirs.user_config_dir("creditdesk")) / "config.toml"


def check_url(url: object, where: str) -> str:
    if not isinstance(url, str) or not url.startswith(("http://", "https://")) \
            or len(url) > 2000 or any(c.isspace() for c in url):
        raise ConfigError(f"{where}: url must be an http:// or https:// address, got {url!r}")
    return url.rstrip("/")


def load_settings(path: Path | None = None) -> Settings:
    path = path or settings_path()
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return Settings()
    except OSError as error:
        raise ConfigError(f"cannot read {path}: {error.strerror}") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path} is not valid TOML: {error}") from None
    for key in data:
        if key not in KEYS:
            raise ConfigError(f"{path}: unknown key {key!r} (known: {', '.join(KEYS)})")
    url = data.get("url")
    if url is not None:
        url = check_url(url, f"{path}: key 'url'")
    context = data.get("context")
    if context is not None and (not isinstance(context, str) or not context.strip()):
        raise ConfigError(f"{path}: key 'context' must be an account id (text), "
                          f"got {context!r}")
    return Settings(url=url, context=context)


def save_settings(settings: Settings, path: Path | None = None) -> Path:
    path = path or settings_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    # JSON string escapes are valid TOML basic strings, so json.dumps quotes safely.
    lines = [f"{key} = {json.dumps(value)}" for key, value in
             (("url", settings.url), ("context", settings.context)) if value is not None]
    path.write_text("# creditdesk settings (the token is in the keyring, not here)\n"
                    + "\n".join(lines) + "\n", encoding="utf-8")
    return path


# --- the keyring ---------------------------------------------------------------------------

def _keyring():
    import keyring
    from keyring.backends import fail
    backend = keyring.get_keyring()
    if isinstance(backend, fail.Keyring):
        raise NoKeyring(
            "no keyring is available on this machine, so the token cannot be stored safely. "
            f"Set {URL_ENV} and {TOKEN_ENV} in the environment instead, e.g.\n"
            f"  export {URL_ENV}=https://billing.example.com\n"
            f"  export {TOKEN_ENV}=<your token>")
    return keyring


def store_token(url: str, token: str) -> None:
    keyring = _keyring()
    keyring.set_password(KEYRING_SERVICE, url, token)


def load_token(url: str) -> str | None:
    keyring = _keyring()
    return keyring.get_password(KEYRING_SERVICE, url)


def delete_token(url: str) -> bool:
    """Remove the stored token; False if there was none."""
    keyring = _keyring()
    from keyring.errors import PasswordDeleteError
    try:
        keyring.delete_password(KEYRING_SERVICE, url)
    except PasswordDeleteError:
        return False
    return True


def connection(environ: dict | None = None) -> Connection:
    """The URL and token to use: the environment first, then the settings and keyring."""
    env = os.environ if environ is None else environ
    settings = load_settings()
    url = env.get(URL_ENV) or settings.url
    if not url:
        raise ConfigError(f"no server configured: run `creditdesk login --url URL`, or set "
                          f"{URL_ENV} and {TOKEN_ENV} (or try `creditdesk demo`)")
    url = check_url(url, URL_ENV if env.get(URL_ENV) else f"{settings_path()}: key 'url'")
    token = env.get(TOKEN_ENV)
    if not token:
        try:
            token = load_token(url)
        except NoKeyring as error:
            raise ConfigError(str(error)) from None
    if not token:
        raise ConfigError(f"not logged in to {url}: run `creditdesk login --url {url}` "
                          f"or set {TOKEN_ENV}")
    return Connection(url=url, token=token, context=settings.context)
