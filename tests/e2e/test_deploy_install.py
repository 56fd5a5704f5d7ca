"""deploy/install.sh into a temporary root: exact files and modes, idempotent, clean uninstall.

The staged root (--destdir) never touches the host: no user, no chown, no systemctl. Most tests skip
the virtual environment (--no-venv); one builds it with --no-deps (a full dependency install takes
over a minute: set CLEANUP_TEST_FULL_VENV=1 to include the dependencies).
"""

from __future__ import annotations

import hashlib
import json
import os
import pwd
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from config.loader import load_settings

REPO = Path(__file__).resolve().parents[2]
INSTALL = REPO / "deploy" / "install.sh"
SECRETS = ("db_password", "telegram_bot_token", "alert_urls")

# Everything a --no-venv install creates in an empty root: path -> mode. Parents that exist on any real
# system (etc, usr/local/bin, ...) are listed too, so that nothing unexpected can hide among them.
PARENTS = {"etc": 0o755, "etc/systemd": 0o755, "etc/systemd/system": 0o755, "opt": 0o755, "usr": 0o755,
           "usr/local": 0o755, "usr/local/bin": 0o755, "var": 0o755, "var/lib": 0o755, "var/log": 0o755}
OURS = {
    "opt/cleanup-manager": 0o755,
    "opt/cleanup-manager/docs": 0o755,
    "opt/cleanup-manager/docs/operations.md": 0o644,
    "usr/local/bin/cleanup-manager": 0o755,
    "etc/systemd/system/cleanup-manager.service": 0o644,
    "etc/systemd/system/cleanup-manager.timer": 0o644,
    "etc/systemd/system/cleanup-manager-migrate.service": 0o644,
}
KEPT = {  # configuration, secrets, data and logs: survive --uninstall, go with --purge
    "etc/cleanup-manager": 0o750,
    "etc/cleanup-manager/config.json": 0o640,
    "etc/cleanup-manager/env": 0o600,
    "etc/cleanup-manager/credentials": 0o700,
    **{f"etc/cleanup-manager/credentials/{key}": 0o600 for key in SECRETS},
    "var/lib/cleanup-manager": 0o750,
    "var/log/cleanup-manager": 0o750,
}


def manifest(root: Path) -> dict[str, tuple[int, str]]:
    """path -> (mode, sha256 of the content, or 'dir'/'link')."""
    entries = {}
    for path in sorted(root.rglob("*")):
        info = path.lstat()
        if stat.S_ISDIR(info.st_mode):
            digest = "dir"
        elif stat.S_ISLNK(info.st_mode):
            digest = "link:" + os.readlink(path)
        else:
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
        entries[str(path.relative_to(root))] = (stat.S_IMODE(info.st_mode), digest)
    return entries


def modes(root: Path) -> dict[str, int]:
    return {path: mode for path, (mode, _) in manifest(root).items()}


def install(root: Path, *args: str, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(["bash", str(INSTALL), "--destdir", str(root), *args], capture_output=True, text=True,
                            timeout=600, env={**os.environ, **(env or {})})
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def host_user() -> bool:
    try:
        pwd.getpwnam("cleanup-manager")
        return True
    except KeyError:
        return False


@pytest.fixture
def root(tmp_path: Path) -> Path:
    path = tmp_path / "root"
    path.mkdir()
    return path


def test_install_creates_exactly_the_expected_files_with_their_modes(root: Path) -> None:
    user_before = host_user()
    out = install(root, "--no-venv")
    print(out)
    assert modes(root) == {**PARENTS, **OURS, **KEPT}
    assert host_user() == user_before  # a staged root never creates the host's user
    assert "would run  useradd --system" in out and "(skipped: staged root)" in out
    assert "systemctl enable --now cleanup-manager.timer" in out
    assert "cleanup-manager-migrate" in out  # database setup: the next step is printed
    for unit in ("cleanup-manager.service", "cleanup-manager.timer", "cleanup-manager-migrate.service"):
        assert (root / "etc/systemd/system" / unit).read_bytes() == (REPO / "deploy" / unit).read_bytes()
    for key in SECRETS:
        assert (root / "etc/cleanup-manager/credentials" / key).read_bytes() == b""


def test_installed_config_is_monitor_mode_and_valid(root: Path) -> None:
    install(root, "--no-venv")
    config = root / "etc/cleanup-manager/config.json"
    assert json.loads(config.read_text())["mode"] == "monitor"
    settings = load_settings(config, environ={}).settings
    assert settings.mode.value == "monitor" and settings.ib_port == 4002 and not settings.trading_enabled


def test_second_run_changes_nothing(root: Path) -> None:
    install(root, "--no-venv")
    before = manifest(root)
    out = install(root, "--no-venv")
    assert manifest(root) == before
    assert "created" not in out and "updated" not in out
    assert "kept       /etc/cleanup-manager/config.json (exists; not overwritten)" in out


def test_existing_configuration_and_secrets_are_never_overwritten(root: Path) -> None:
    install(root, "--no-venv")
    config = root / "etc/cleanup-manager/config.json"
    config.write_text('{"mode": "active"}\n')
    secret = root / "etc/cleanup-manager/credentials/db_password"
    secret.write_text("s3cret\n")
    secret.chmod(0o644)  # loosened by hand
    install(root, "--no-venv")
    assert config.read_text() == '{"mode": "active"}\n'
    assert secret.read_text() == "s3cret\n"
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600  # tightened again


def test_uninstall_keeps_configuration_and_data_and_purge_removes_everything(root: Path) -> None:
    install(root, "--no-venv")
    (root / "var/lib/cleanup-manager/audit.sqlite3").write_text("records")
    out = install(root, "--uninstall")
    assert "Kept (remove with --purge)" in out
    left = modes(root)
    assert left == {**PARENTS, **KEPT, "var/lib/cleanup-manager/audit.sqlite3": 0o644}
    out = install(root, "--purge")
    assert "would run  userdel cleanup-manager (skipped: staged root)" in out
    assert modes(root) == PARENTS  # only the system directories any host already has
    assert install(root, "--purge")  # purging twice is fine


def test_dry_run_changes_nothing(root: Path) -> None:
    out = install(root, "--no-venv", "--dry-run")
    assert "would be created /etc/cleanup-manager/config.json (0640 root:cleanup-manager)" in out
    assert modes(root) == {}


def test_prefix_moves_the_program_and_the_units_follow(root: Path) -> None:
    install(root, "--no-venv", "--prefix", "/srv/ocm")
    unit = (root / "etc/systemd/system/cleanup-manager.service").read_text()
    assert "ExecStart=/srv/ocm/venv/bin/cleanup-manager run" in unit and "/opt/cleanup-manager" not in unit
    assert "exec /srv/ocm/venv/bin/cleanup-manager" in (root / "usr/local/bin/cleanup-manager").read_text()
    assert (root / "srv/ocm/docs/operations.md").is_file() and not (root / "opt").exists()


@pytest.mark.skipif(not shutil.which("systemd-analyze") or not Path("/usr/lib/systemd/system").is_dir(),
                    reason="systemd-analyze or the stock units missing")
def test_installed_root_passes_systemd_analyze_verify(root: Path) -> None:
    install(root, "--no-venv")
    binary = root / "opt/cleanup-manager/venv/bin/cleanup-manager"  # stands in for the venv
    binary.parent.mkdir(parents=True)
    binary.write_text("#!/bin/sh\n")
    binary.chmod(0o755)
    shutil.copytree("/usr/lib/systemd/system", root / "usr/lib/systemd/system", symlinks=True)
    units = [str(root / "etc/systemd/system" / name) for name in
             ("cleanup-manager.service", "cleanup-manager.timer", "cleanup-manager-migrate.service")]
    result = subprocess.run(["systemd-analyze", "verify", f"--root={root}", *units], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0 and not result.stderr.strip(), result.stderr


@pytest.fixture(scope="module")
def source_snapshot(tmp_path_factory) -> Path:
    """A frozen copy of the repository: others edit the working tree while the tests run."""
    snapshot = tmp_path_factory.mktemp("source")
    ignore = shutil.ignore_patterns(".venv", ".git", "build", "*.egg-info", "__pycache__", ".pytest_cache",
                                    ".ruff_cache", "data", "logs")
    shutil.copytree(REPO, snapshot, ignore=ignore, dirs_exist_ok=True)
    return snapshot


def test_virtual_environment_is_built_once_and_then_left_alone(root: Path, source_snapshot: Path) -> None:
    full = os.environ.get("CLEANUP_TEST_FULL_VENV") == "1"
    env = {} if full else {"INSTALL_PIP_ARGS": "--no-deps"}
    out = install(root, "--source", str(source_snapshot), env=env)
    assert "installed  /opt/cleanup-manager/venv/" in out
    venv = root / "opt/cleanup-manager/venv"
    assert os.access(venv / "bin/cleanup-manager", os.X_OK)
    probe = "import runtime.service_window, runtime.systemd, sys; print(sys.prefix)"
    if full:
        result = subprocess.run([str(venv / "bin/python"), "-c", probe], capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
    before = manifest(root)
    out = install(root, "--source", str(source_snapshot), env=env)
    assert "unchanged  /opt/cleanup-manager/venv/ (package already installed from identical source)" in out
    assert manifest(root) == before
    install(root, "--uninstall")
    assert not (root / "opt/cleanup-manager").exists()
