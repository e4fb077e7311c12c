"""Where the dashboard connects: a tiny TOML settings file, the environment, and the keyring.

The settings file (platformdirs' user config dir, `config.toml`; `$CREDITDESK_CONFIG`
points elsewhere) holds the server URL, the default context, the dashboard's theme (the
last one picked) and a `[keys]` table that remaps the dashboard's keys by binding id
(`"app.quit" = "ctrl+q"`; the ids are listed by `?` in the dashboard). The token lives in
the system keyring (service "creditdesk", username = the URL) and is never written to the
file. `CREDITDESK_URL` and `CREDITDESK_TOKEN` override both, for machines without a keyring
(CI, containers, SSH sessions).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path

KEYRING_SERVICE = "creditdesk"
CONFIG_ENV = "CREDITDESK_CONFIG"
URL_ENV = "CREDITDESK_URL"
TOKEN_ENV = "CREDITDESK_TOKEN"
KEYS = ("url", "context", "theme", "keys")
# A binding id is dotted snake_case ("app.quit", "usage.export"); keys are Textual key
# names, comma-separated for several ("ctrl+q,f10").
BINDING_ID = re.compile(r"[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+")
KEY_NAMES = re.compile(r"[a-z0-9_+]+(,[a-z0-9_+]+)*")


class ConfigError(Exception):
    """A setting is missing or wrong; the message says which file and key, and what to do."""


class NoKeyring(ConfigError):
    """This machine has no usable keyring backend."""


@dataclass(frozen=True)
class Settings:
    url: str | None = None
    context: str | None = None
    theme: str | None = None
    keys: dict[str, str] = field(default_factory=dict)  # binding id -> keys


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
    import tomllib  # only when there is a file: most starts have none, and it costs ms
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
    theme = data.get("theme")
    if theme is not None and (not isinstance(theme, str) or not theme.strip()):
        raise ConfigError(f"{path}: key 'theme' must be a theme name (text), got {theme!r}")
    return Settings(url=url, context=context, theme=theme,
                    keys=_check_keys(data.get("keys", {}), path))


def _check_keys(table: object, path: Path) -> dict[str, str]:
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: 'keys' must be a table of binding id = \"keys\"")
    keys = {}
    for binding_id, value in table.items():
        if not BINDING_ID.fullmatch(binding_id):
            raise ConfigError(f"{path}: [keys] {binding_id!r} is not a binding id (like "
                              f"\"app.quit\"; press ? in the dashboard to see them)")
        if not isinstance(value, str) or not KEY_NAMES.fullmatch(value.replace(" ", "")):
            raise ConfigError(f"{path}: [keys] {binding_id} must be key names such as "
                              f"\"ctrl+q\" or \"f2,x\", got {value!r}")
        keys[binding_id] = value.replace(" ", "")
    return keys


def save_settings(settings: Settings, path: Path | None = None) -> Path:
    path = path or settings_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    # JSON string escapes are valid TOML basic strings, so json.dumps quotes safely.
    lines = [f"{key} = {json.dumps(value)}" for key, value in
             (("url", settings.url), ("context", settings.context),
              ("theme", settings.theme)) if value is not None]
    if settings.keys:  # a table comes after the plain keys in TOML
        lines += ["", "[keys]", *(f"{json.dumps(binding_id)} = {json.dumps(keys)}"
                                  for binding_id, keys in settings.keys.items())]
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


def remember_theme(theme: str, path: Path | None = None) -> None:
    """Write the theme the person picked into the settings file, keeping the rest."""
    settings = load_settings(path)
    if settings.theme != theme:
        save_settings(replace(settings, theme=theme), path)


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
