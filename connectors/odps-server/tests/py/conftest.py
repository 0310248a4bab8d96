"""pyodps drives ferry's local MaxCompute server (started by tests/pyodps.rs)."""
import os
import uuid

import pytest
from odps import ODPS, options

options.tunnel.use_instance_tunnel = False


def _env(name):
    v = os.environ.get(name)
    if not v:
        pytest.fail(f"{name} is not set: run this suite through `cargo test -p ferry-odps-server --test pyodps`")
    return v


@pytest.fixture(scope="session")
def cfg():
    os.environ.pop("ODPS_REGION_NAME", None)
    return dict(
        access_id=_env("FERRY_ODPS_ACCESS_ID"),
        secret_access_key=_env("FERRY_ODPS_ACCESS_KEY"),
        project=_env("FERRY_ODPS_PROJECT"),
        endpoint=_env("FERRY_ODPS_ENDPOINT"),
        tunnel_endpoint=_env("FERRY_ODPS_TUNNEL"),
        logview_host=_env("FERRY_ODPS_TUNNEL"),
    )


@pytest.fixture(scope="session")
def o(cfg):
    return ODPS(**cfg)


@pytest.fixture
def name():
    return "t_" + uuid.uuid4().hex[:10]
