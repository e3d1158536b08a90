"""The systemd units shipped for real servers (deploy/systemd/) pass
``systemd-analyze verify`` (no systemd runs here: verify only loads them),
with the checkout standing in for /srv/liveblog so every command exists; and
the profile's supervisord config names the same processes."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from deploy.profile import ROOT, Options, Supervisor, render_supervisord_conf

UNITS = ROOT / "deploy" / "systemd"


def test_the_systemd_units_verify(tmp_path):
    assert shutil.which("systemd-analyze"), "scripts/ensure-system-packages installs systemd"
    for unit in UNITS.iterdir():
        text = unit.read_text().replace("/srv/liveblog", str(ROOT))
        (tmp_path / unit.name).write_text(text)
    names = ["liveblog.target", "liveblog-app@0.service", "liveblog-celery-worker.service",
             "liveblog-celery-beat.service", "liveblog-heartbeat.service"]
    result = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", *[str(tmp_path / n) for n in names]],
        capture_output=True, text=True, timeout=60, cwd=tmp_path,
    )
    # Only the lines about our units: verify also loads the system's own.
    ours = [line for line in (result.stdout + result.stderr).splitlines() if "liveblog" in line]
    assert result.returncode == 0 and not ours, result.stdout + result.stderr


def test_supervisord_runs_what_the_units_run(tmp_path):
    opts = Options(run_dir=tmp_path, app_procs=2)
    programs = Supervisor(opts).define_programs()
    conf = render_supervisord_conf(opts, programs)
    assert [p.name for p in programs] == ["app-0", "app-1", "celery-worker", "celery-beat", "nginx"]
    assert conf.count("autorestart=true") == 5 and "%%h" in conf
    for program in programs[:-1]:
        unit = "liveblog-app@.service" if program.name.startswith("app-") else f"liveblog-{program.name}.service"
        for flag in ("--timeout-keep-alive", "--without-gossip", "beat"):
            if flag in program.argv:
                assert flag in (UNITS / unit).read_text()
    assert Path(UNITS / "liveblog.target").exists()
