"""`guanxi serve --access-log` writes what was asked for, never the search terms (phones, e-mails)."""

import datetime as dt
import sys
from types import SimpleNamespace

import pytest

from guanxi.cli import ACCESS_LOG_FORMAT


@pytest.mark.skipif(sys.platform == "win32", reason="gunicorn is Unix only")
def test_access_log_keeps_the_path_and_drops_the_query_string(tmp_path):
    from gunicorn.config import Config
    from gunicorn.glogging import Logger

    path = tmp_path / "access.log"
    cfg = Config()
    cfg.set("accesslog", str(path))
    cfg.set("access_log_format", ACCESS_LOG_FORMAT)
    logger = Logger(cfg)
    query = "search=13800138000&email=wang%40example.com"
    environ = {
        "REQUEST_METHOD": "GET",
        "RAW_URI": f"/api/customers/?{query}",
        "PATH_INFO": "/api/customers/",
        "QUERY_STRING": query,
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "10.0.0.7",
        "HTTP_REFERER": "http://crm.example/customers/?q=13900139000",
    }
    response = SimpleNamespace(status="200 OK", sent=512, headers=[])
    logger.access(response, [], environ, dt.timedelta(milliseconds=12))
    for handler in logger.access_log.handlers:
        handler.flush()
    line = path.read_text()
    assert '10.0.0.7 "GET /api/customers/ HTTP/1.1" 200 512 12ms pid=<' in line
    for secret in ("13800138000", "wang", "13900139000", "search="):
        assert secret not in line
