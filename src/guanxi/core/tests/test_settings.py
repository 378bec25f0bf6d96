import os
import subprocess
import sys


def _start(env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        env={
            **{k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "GUANXI_FIELD_KEY")},
            "DJANGO_SETTINGS_MODULE": "guanxi.settings.base",
            **env,
        },
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_production_refuses_default_secrets_and_says_what_to_set():
    result = _start({"GUANXI_ENV": "production"})
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr and "GUANXI_FIELD_KEY" in result.stderr


def test_production_starts_with_real_secrets():
    result = _start({"GUANXI_ENV": "production", "SECRET_KEY": "x" * 50, "GUANXI_FIELD_KEY": "y" * 50})
    assert result.returncode == 0, result.stderr
