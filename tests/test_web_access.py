"""Who may use the web service: the Host and Origin checks (DNS rebinding, other sites), jobs
that belong to the browser that made them, the optional password, and the per-browser cap."""

from __future__ import annotations

import warnings

import pytest

warnings.filterwarnings("ignore", message=".*httpx2.*")

from fastapi.testclient import TestClient  # noqa: E402

from impasto.cli import build_parser  # noqa: E402
from impasto.web.serve import config_from  # noqa: E402

from .web_helpers import LOCAL, api_client, fast_config, idle, png, submit  # noqa: E402,F401

pytestmark = pytest.mark.filterwarnings("ignore:.*httpx2.*")


def stranger(c: TestClient) -> TestClient:
    """Another browser on the same server: no cookies of the first one."""
    return TestClient(c.app, base_url=LOCAL)


# -- Host and Origin -------------------------------------------------------------------------------
def test_a_rebound_host_name_gets_nothing(idle, png):
    assert submit(idle, png).status_code == 201
    for host in ("rebind.attacker.example", "rebind.attacker.example:8000", "localhost.attacker.example", ""):
        r = idle.get("/api/jobs", headers={"Host": host})
        assert r.status_code == 400, host
        assert "does not answer to the name" in r.json()["detail"] and "jobs" not in r.json()
    assert idle.get("/", headers={"Host": "rebind.attacker.example"}).status_code == 400
    r = idle.post("/api/jobs", headers={"Host": "rebind.attacker.example"})
    assert r.status_code == 400 and r.headers["content-type"] == "application/json"
    # Addresses and the loopback name work, whatever the port.
    for host in ("127.0.0.1:8000", "localhost:8123", "LOCALHOST", "[::1]:8000", "192.168.1.20:8000"):
        assert idle.get("/api/jobs", headers={"Host": host}).json()["total"] == 1, host


def test_names_given_to_the_server_are_accepted(tmp_path):
    cfg = fast_config(tmp_path / "d", devices=(), allowed_hosts=("localhost", "painter.lan"))
    with api_client(cfg) as c:
        assert c.get("/api/capabilities", headers={"Host": "painter.lan:8000"}).status_code == 200
        assert c.get("/api/capabilities", headers={"Host": "other.lan"}).status_code == 400
    with api_client(fast_config(tmp_path / "e", devices=(), allowed_hosts=("*",))) as c:
        assert c.get("/api/capabilities", headers={"Host": "anything.example"}).status_code == 200


def test_other_sites_cannot_queue_cancel_or_read(idle, png):
    job = submit(idle, png).json()
    evil = {"Origin": "http://evil.example"}
    files = {"content": ("p.png", png, "image/png")}
    r = idle.post("/api/jobs", files=files, data={"style_id": "starry_night"}, headers=evil)
    assert r.status_code == 403 and r.json()["detail"] == "requests from other web sites are not accepted"
    assert idle.post(f"/api/jobs/{job['id']}/cancel", headers=evil).status_code == 403
    assert idle.delete(f"/api/jobs/{job['id']}", headers=evil).status_code == 403
    assert idle.get("/api/jobs", headers=evil).status_code == 403
    for origin in ("null", "http://127.0.0.1:9999", "https://127.0.0.1.evil.example:8000", "file://"):
        assert idle.post(f"/api/jobs/{job['id']}/cancel", headers={"Origin": origin}).status_code == 403, origin
    assert idle.get(f"/api/jobs/{job['id']}").json()["state"] == "queued"
    assert idle.get("/api/jobs").json()["total"] == 1
    # The page itself sends its own origin: accepted (also behind a TLS proxy: no port on either).
    assert idle.post(f"/api/jobs/{job['id']}/cancel", headers={"Origin": LOCAL}).status_code == 200
    r = idle.get("/api/capabilities", headers={"Origin": "https://painter.example", "Host": "painter.example"})
    assert r.status_code == 400  # (a name it was not given)


def test_allowed_host_names_from_the_command_line():
    def cfg(*argv: str):
        return config_from(build_parser().parse_args(["serve", *argv]))

    assert cfg().allowed_hosts == ("localhost",)
    assert "painter.lan" in cfg("--allow-host", "Painter.lan").allowed_hosts
    everywhere = cfg("--host", "0.0.0.0").allowed_hosts
    import socket

    assert socket.gethostname().lower() in everywhere


# -- ownership -------------------------------------------------------------------------------------
def test_jobs_belong_to_the_browser_that_made_them(idle, png):
    mine = submit(idle, png).json()
    set_cookie = idle.cookies.jar
    cookie = next(c for c in set_cookie if c.name == "impasto_owner")
    assert len(cookie.value) >= 32 and cookie.has_nonstandard_attr("HttpOnly")
    r = idle.get("/api/capabilities")
    assert "set-cookie" not in r.headers  # the browser keeps its token
    other = stranger(idle)
    assert other.get("/api/jobs").json() == {"jobs": [], "total": 0}
    for path in ("", "/events", "/result", "/content", "/style", "/preview"):
        assert other.get(f"/api/jobs/{mine['id']}{path}").status_code == 404, path
    assert other.post(f"/api/jobs/{mine['id']}/cancel").status_code == 404
    assert other.delete(f"/api/jobs/{mine['id']}").status_code == 404
    assert other.post(f"/api/jobs/{mine['id']}/refine").status_code == 404
    assert other.delete("/api/jobs").json() == {"deleted": 0}
    theirs = submit(other, png).json()
    assert [j["id"] for j in idle.get("/api/jobs").json()["jobs"]] == [mine["id"]]
    assert [j["id"] for j in other.get("/api/jobs").json()["jobs"]] == [theirs["id"]]
    assert idle.get(f"/api/jobs/{mine['id']}").json()["state"] == "queued"
    # A made-up token is just another browser.
    forged = TestClient(idle.app, base_url=LOCAL, cookies={"impasto_owner": "x" * 43})
    assert forged.get("/api/jobs").json()["total"] == 0


def test_a_cap_on_each_browsers_waiting_jobs(tmp_path, png):
    with api_client(fast_config(tmp_path / "d", devices=(), max_waiting_per_client=2)) as c:
        assert [submit(c, png).status_code for _ in range(2)] == [201, 201]
        r = submit(c, png)
        assert r.status_code == 429
        assert r.json()["detail"] == "you already have 2 paintings waiting; let one finish or cancel one first"
        assert stranger(c).post("/api/jobs", files={"content": ("p.png", png, "image/png")},
                                data={"style_id": "shipwreck"}).status_code == 201
        first = c.get("/api/jobs").json()["jobs"][-1]
        c.post(f"/api/jobs/{first['id']}/cancel")
        assert submit(c, png).status_code == 201


# -- the password ----------------------------------------------------------------------------------
def test_a_password_guards_every_api_call(tmp_path, png):
    with api_client(fast_config(tmp_path / "d", devices=(), password="open sesame")) as c:
        caps = c.get("/api/capabilities").json()
        assert caps["password_required"] and not caps["authorised"]
        assert c.get("/").status_code == 200  # the page, which then asks for it
        for method, path in (("GET", "/api/jobs"), ("GET", "/api/styles"), ("POST", "/api/jobs"),
                             ("GET", "/api/instant-styles"), ("DELETE", "/api/jobs")):
            r = c.request(method, path)
            assert r.status_code == 401 and r.json()["detail"] == "this server needs its password", path
        r = c.post("/api/login", data={"password": "open says me"})
        assert r.status_code == 401 and r.json()["detail"] == "that is not the password"
        r = c.post("/api/login", data={"password": "open sesame"})
        assert r.status_code == 204 and "HttpOnly" in r.headers["set-cookie"]
        assert c.get("/api/capabilities").json()["authorised"]
        job = submit(c, png)
        assert job.status_code == 201
        # API clients may send it as a bearer token instead.
        bare = stranger(c)
        assert bare.get("/api/jobs").status_code == 401
        assert bare.get("/api/jobs", headers={"Authorization": "Bearer open sesame"}).status_code == 200
        assert bare.get("/api/jobs", headers={"Authorization": "Bearer guess"}).status_code == 401
    # The login outlives a restart (the key is kept in the data folder) ...
    with api_client(fast_config(tmp_path / "d", devices=(), password="open sesame"), cookies=c.cookies) as again:
        assert again.get("/api/jobs").json()["total"] == 1
    # ... but not a change of password.
    with api_client(fast_config(tmp_path / "d", devices=(), password="new"), cookies=c.cookies) as changed:
        assert changed.get("/api/jobs").status_code == 401


def test_the_password_from_the_command_line_or_the_environment(monkeypatch):
    def cfg(*argv: str):
        return config_from(build_parser().parse_args(["serve", *argv]))

    assert cfg().password is None
    assert cfg("--password", "pw").password == "pw"
    monkeypatch.setenv("IMPASTO_PASSWORD", "from-env")
    assert cfg().password == "from-env"
    assert cfg("--password", "flag wins").password == "flag wins"
