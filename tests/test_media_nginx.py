"""The production profile's nginx serves photos itself: the ``/media/``
location of deploy/nginx.conf.template, run in an nginx of this test's own
(own prefix and port, ended by its pid), serves a photo with its cache and
purge headers, and a photo moved out of the folder (a takedown) is a 404."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest
import requests

TEMPLATE = Path(__file__).resolve().parent.parent / "deploy" / "nginx.conf.template"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


def _media_location(media_root: Path) -> str:
    text = TEMPLATE.read_text()
    block = re.search(r"\n( +location ~ \^/media/.*?\n +\})\n", text, re.S)
    assert block, "deploy/nginx.conf.template has no /media/ location"
    return block.group(1).replace("{{MEDIA_ROOT}}", str(media_root))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def nginx(tmp_path):
    media_root = tmp_path / "media"
    (tmp_path / "logs").mkdir()
    port = _free_port()
    user = "user root root;" if os.geteuid() == 0 else ""
    conf = tmp_path / "nginx.conf"
    conf.write_text(f"""
{user}
worker_processes 1;
pid {tmp_path}/nginx.pid;
error_log {tmp_path}/logs/error.log;
events {{ worker_connections 64; }}
http {{
    client_body_temp_path {tmp_path}/body; proxy_temp_path {tmp_path}/proxy;
    fastcgi_temp_path {tmp_path}/fcgi; uwsgi_temp_path {tmp_path}/uwsgi; scgi_temp_path {tmp_path}/scgi;
    access_log off;
    types {{ image/jpeg jpg; image/webp webp; image/png png; image/gif gif; }}
    server {{
        listen 127.0.0.1:{port};
{_media_location(media_root)}
        location / {{ return 418; }}
    }}
}}
""")
    server = subprocess.Popen([NGINX, "-p", str(tmp_path), "-c", str(conf), "-g", "daemon off;"],
                              stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                requests.get(url, timeout=1)
                break
            except requests.ConnectionError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(server.stderr.read().decode() if server.poll() is not None else "nginx slow") from None
                time.sleep(0.05)
        yield url, media_root
    finally:
        os.kill(server.pid, signal.SIGQUIT)  # ours, by pid
        server.wait(timeout=10)


def test_nginx_serves_a_photo_with_its_headers_and_a_moved_one_is_a_404(nginx):
    url, media_root = nginx
    folder = media_root / "photos" / "Ab-3_x9"
    folder.mkdir(parents=True)
    (folder / "960.webp").write_bytes(b"RIFF....WEBPVP8 ")
    response = requests.get(f"{url}/media/photos/Ab-3_x9/960.webp", timeout=5)
    assert response.status_code == 200 and response.headers["Content-Type"] == "image/webp"
    assert response.headers["Cache-Control"] == "public, max-age=3600, s-maxage=604800"
    assert response.headers["Surrogate-Key"] == "media-Ab-3_x9"
    assert response.headers["X-Content-Type-Options"] == "nosniff"

    (folder / "960.webp").rename(media_root / "elsewhere.webp")  # what a takedown does
    gone = requests.get(f"{url}/media/photos/Ab-3_x9/960.webp", timeout=5)
    assert gone.status_code == 404 and "Cache-Control" not in gone.headers
    # Anything but a photo's name goes on to the app.
    assert requests.get(f"{url}/media/elsewhere.webp", timeout=5).status_code == 418
    assert requests.get(f"{url}/media/photos/../elsewhere.webp", timeout=5).status_code in (400, 418)


def test_the_rendered_profile_config_passes_nginx_t_and_takes_photo_sized_uploads(tmp_path):
    from deploy.profile import Options, render_nginx_conf

    run_dir = tmp_path / "run"
    for sub in ("nginx", "logs"):
        (run_dir / sub).mkdir(parents=True)
    conf = tmp_path / "nginx.conf"
    conf.write_text(render_nginx_conf(Options(database_url="postgres://x@127.0.0.1/y", run_dir=run_dir)))
    checked = subprocess.run([NGINX, "-t", "-c", str(conf), "-p", str(run_dir)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr
    text = conf.read_text()
    for location in ("location = /api/media {", "location ~ ^/desk/blogs/[-\\w]+/entries/$ {"):
        block = text[text.index(location):]
        assert "client_max_body_size 16m;" in block[: block.index("}")]
