"""`livecaptions token`, the server's access options, and key rotation by SIGHUP's reload."""

import asyncio
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from access import Grant, KeyRing, TokenVerifier
from access.cli import main as token_main
from access.rooms import RoomAccess
from sfu.cli import config_from_args, parse_args, reload_keys
from sfu.config import ServerConfig
from sfu.server import CaptionServer

SECRET = "s" * 32


def test_token_prints_a_token_and_an_invitation_that_verify(
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = ["--room", "standup", "--identity", "ada@example.org", "--name", "Ada", "--ttl", "2h"]
    now = time.time()
    assert token_main([*argv, "--token-secret", SECRET, "--url", "http://h:9"], now=now) == 0
    token, link = capsys.readouterr().out.split()
    claims = TokenVerifier(KeyRing.from_secret(SECRET)).verify(token, now)
    assert (claims.identity, claims.name, claims.room) == ("ada@example.org", "Ada", "standup")
    assert claims.expires - claims.issued_at == 7200
    assert Grant.PUBLISH in claims.grants and Grant.REVIEW not in claims.grants
    url = urlsplit(link)
    assert (url.scheme, url.netloc, url.path) == ("http", "h:9", "/")
    assert parse_qs(url.query) == {"room": ["standup"], "token": [token]}


def test_a_captioners_token_links_to_the_captioner_page(
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = ["--room", "board", "--identity", "cy", "--captioner", "--token-secret", SECRET]
    assert token_main(argv) == 0
    token, link = capsys.readouterr().out.split()
    claims = TokenVerifier(KeyRing.from_secret(SECRET)).verify(token, time.time())
    assert claims.grants == {Grant.JOIN, Grant.CAPTIONS, Grant.CAPTION}
    assert urlsplit(link).path == "/captioner/"
    assert token_main([*argv, "--grant", "join"]) == 2
    assert "--captioner sets the grants" in capsys.readouterr().err


def test_token_grants_patterns_and_refusals(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["--room", "*", "--identity", "rita", "--grant", "review", "--token-secret", SECRET]
    assert token_main(argv) == 0
    out = capsys.readouterr().out.split()
    assert len(out) == 1  # a pattern has no invitation link
    claims = TokenVerifier(KeyRing.from_secret(SECRET)).verify(out[0], time.time())
    assert claims.grants == {Grant.REVIEW} and claims.name == "rita"
    assert token_main(["--room", "r", "--identity", "a", "--token-secret", "short"]) == 2
    assert "at least 32 bytes" in capsys.readouterr().err
    assert token_main(["--room", "r", "--identity", "a"]) == 2
    assert "no key" in capsys.readouterr().err


def test_old_mode_stays_and_access_options_build_their_config(tmp_path: Path) -> None:
    assert config_from_args(parse_args([])).access is None
    assert config_from_args(parse_args(["--participant-token", "t"])).access is None
    rooms = tmp_path / "rooms.toml"
    rooms.write_text('[[room]]\nname = "hall"\naccess = "public"\n')
    access = config_from_args(parse_args(["--token-secret", SECRET, "--rooms", str(rooms)])).access
    assert access is not None and access.keys is not None
    assert access.rooms.rule_for("hall").access is RoomAccess.PUBLIC
    assert access.rooms.rule_for("other").access is RoomAccess.TRUSTED
    with pytest.raises(SystemExit):
        parse_args(["--participant-token", "t", "--token-secret", SECRET])
    with pytest.raises(SystemExit):
        parse_args(["--oidc-issuer", "http://127.0.0.1:1"])  # no client id nor secret


def test_sighup_reload_rotates_keys_and_a_broken_file_keeps_them(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    keys.write_text(f"old {'o' * 32}\n")
    config = config_from_args(parse_args(["--token-keys", str(keys), "--no-log"]))
    server = CaptionServer(config)
    assert server.gatekeeper is not None
    keys.write_text(f"new {'n' * 32}\nold {'o' * 32}\n")
    asyncio.run(reload_keys(server, keys))
    assert [k.kid for k in server.gatekeeper.verifier.keys.keys] == ["new", "old"]
    assert server.token_issuer is not None and server.token_issuer.keys.signing.kid == "new"
    keys.write_text("broken\n")
    asyncio.run(reload_keys(server, keys))
    assert [k.kid for k in server.gatekeeper.verifier.keys.keys] == ["new", "old"]


def test_a_server_without_access_options_has_no_gatekeeper() -> None:
    server = CaptionServer(ServerConfig())
    assert server.gatekeeper is None and server.auth is None
