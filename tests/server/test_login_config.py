"""`creditdesk login/logout`, the settings file and the keyring (an in-memory one here)."""

from __future__ import annotations

import io

import keyring
import pytest
from keyring.backend import KeyringBackend
from keyring.backends import fail
from keyring.errors import PasswordDeleteError

from creditdesk import config
from creditdesk.cli import main
from tests.support.live_server import LiveServer


class MemoryKeyring(KeyringBackend):
    priority = 1

    def __init__(self) -> None:
        super().__init__()
        self.passwords: dict[tuple[str, str], str] = {}

    def get_password(self, service, username):
        return self.passwords.get((service, username))

    def set_password(self, service, username, password):
        self.passwords[(service, username)] = password

    def delete_password(self, service, username):
        if self.passwords.pop((service, username), None) is None:
            raise PasswordDeleteError("no such password")


@pytest.fixture
def settings_file(tmp_path, monkeypatch):
    path = tmp_path / "config" / "config.toml"
    monkeypatch.setenv(config.CONFIG_ENV, str(path))
    monkeypatch.delenv(config.URL_ENV, raising=False)
    monkeypatch.delenv(config.TOKEN_ENV, raising=False)
    return path


@pytest.fixture
def memory_keyring():
    previous = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    yield backend
    keyring.set_keyring(previous)


@pytest.fixture
def no_keyring():
    previous = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())
    yield
    keyring.set_keyring(previous)


def login(monkeypatch, url: str, token: str, *extra: str) -> int:
    monkeypatch.setattr("sys.stdin", io.StringIO(token + "\n"))
    return main(["login", "--url", url, *extra])


def test_login_keeps_the_token_in_the_keyring_only(world, settings_file, memory_keyring,
                                                   monkeypatch, capsys):
    with LiveServer(world.engine) as server:
        token = server.token_for("ann")
        assert login(monkeypatch, server.url + "/", token, "--context", "acme") == 0
    out = capsys.readouterr().out
    assert "as Ann Lee" in out and token not in out
    assert memory_keyring.passwords == {("creditdesk", server.url): token}
    text = settings_file.read_text()
    assert token not in text
    assert config.load_settings() == config.Settings(url=server.url, context="acme")
    assert config.connection() == config.Connection(url=server.url, token=token,
                                                    context="acme")

    assert main(["logout"]) == 0
    assert memory_keyring.passwords == {}
    assert main(["logout"]) == 0
    assert "No token was stored" in capsys.readouterr().out
    with pytest.raises(config.ConfigError, match="not logged in"):
        config.connection()


def test_a_token_the_server_refuses_is_not_stored(world, settings_file, memory_keyring,
                                                  monkeypatch, capsys):
    with LiveServer(world.engine) as server:
        assert login(monkeypatch, server.url, "not-a-real-token") == 1
    assert "refused this token" in capsys.readouterr().err
    assert memory_keyring.passwords == {} and not settings_file.exists()


def test_without_a_keyring_login_says_to_use_the_environment(settings_file, no_keyring,
                                                             monkeypatch, capsys):
    assert login(monkeypatch, "http://127.0.0.1:9", "some-token") == 2
    err = capsys.readouterr().err
    assert "no keyring" in err and config.TOKEN_ENV in err and config.URL_ENV in err
    assert "some-token" not in err and not settings_file.exists()


def test_the_environment_overrides_file_and_keyring(settings_file, memory_keyring,
                                                    monkeypatch):
    config.save_settings(config.Settings(url="http://file.example"))
    memory_keyring.set_password("creditdesk", "http://file.example", "from-keyring")
    assert config.connection().token == "from-keyring"
    monkeypatch.setenv(config.URL_ENV, "http://env.example")
    monkeypatch.setenv(config.TOKEN_ENV, "from-env")
    assert config.connection() == config.Connection(url="http://env.example",
                                                    token="from-env", context=None)


def test_the_environment_alone_works_without_any_keyring(settings_file, no_keyring,
                                                         monkeypatch):
    monkeypatch.setenv(config.URL_ENV, "https://billing.example")
    monkeypatch.setenv(config.TOKEN_ENV, "t")
    assert config.connection().url == "https://billing.example"


@pytest.mark.parametrize("text, words", [
    ("url = 'http://x'\ncolour = 'red'\n", "unknown key 'colour'"),
    ("url = 42\n", "key 'url'"),
    ("url = 'ftp://x'\n", "key 'url'"),
    ("context = ''\n", "key 'context'"),
    ("url = \n", "not valid TOML"),
])
def test_a_bad_settings_file_is_named_with_its_key(settings_file, text, words):
    settings_file.parent.mkdir(parents=True)
    settings_file.write_text(text)
    with pytest.raises(config.ConfigError) as error:
        config.load_settings()
    assert str(settings_file) in str(error.value) and words in str(error.value)


def test_the_dashboard_without_a_server_explains_what_to_do(settings_file, memory_keyring,
                                                            capsys):
    assert main([]) == 2
    err = capsys.readouterr().err
    assert "creditdesk login --url" in err and config.URL_ENV in err
