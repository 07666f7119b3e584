"""Security review round 2 (issue 17): each attack from the review, replayed against the code.

Every test here reproduces one finding: it failed on the code the review read and passes now.
"""

from __future__ import annotations

import base64
import os
import socket
import subprocess
import sys
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest

from pluralign_core import paths
from pluralign_core.commands import app as app_command
from tests.browser.launch import running_app


def _websocket_status(port: int, host_header: str) -> str:
    """Open Streamlit's websocket the way a browser on ``host_header`` would; returns the status line."""
    key = base64.b64encode(os.urandom(16)).decode()
    request = (
        f"GET /_stcore/stream HTTP/1.1\r\nHost: {host_header}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
        f"Origin: http://{host_header}\r\nSec-WebSocket-Protocol: streamlit\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
        connection.sendall(request.encode())
        return connection.recv(4096).decode(errors="replace").split("\r\n")[0]


@pytest.fixture(scope="module")
def served_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """``pluralign app`` started from a folder without ``.streamlit/config.toml`` (as a user would)."""
    folder = tmp_path_factory.mktemp("security-home")
    with running_app(folder / "home", timeout=90, cwd=folder, host=None) as url:
        yield int(urllib.parse.urlsplit(url).port)


def test_a_dns_rebinding_page_cannot_open_the_app_websocket(served_app: int):
    """Finding 1: ``Host: evil.example`` (a rebound name pointing at 127.0.0.1) used to get ``101``."""
    assert " 403 " in _websocket_status(served_app, f"evil.example:{served_app}")
    assert " 101 " in _websocket_status(served_app, f"localhost:{served_app}")
    assert " 101 " in _websocket_status(served_app, f"127.0.0.1:{served_app}")


def test_sharing_on_a_network_needs_named_hosts_never_a_wildcard():
    arguments = app_command.streamlit_arguments("0.0.0.0", 8501, ["MyServer.lan"])
    named = [arguments[i + 1] for i, flag in enumerate(arguments) if flag == "--server.allowedHosts"]
    assert named == ["localhost", "127.0.0.1", "::1", "myserver.lan"]
    with pytest.raises(ValueError, match="DNS rebinding"):
        app_command.streamlit_arguments("0.0.0.0", 8501, ["*"])


def test_the_shipped_streamlit_config_has_the_same_allow_list():
    import tomllib

    config = tomllib.loads((paths.REPO_ROOT / ".streamlit" / "config.toml").read_text())
    assert config["server"]["allowedHosts"] == list(app_command.LOCAL_HOSTS)


def test_a_hub_id_is_refused_unless_downloads_are_opted_in(monkeypatch: pytest.MonkeyPatch):
    """Finding 8: a hub id typed on the Train page used to start a download of any size."""
    from pluralign_core.models import base as base_models

    monkeypatch.delenv(base_models.DOWNLOADS_ENV, raising=False)
    with pytest.raises(ValueError, match="PLURALIGN_ALLOW_DOWNLOADS=1"):
        base_models.resolve_model("someone/a-400b-model")
    monkeypatch.setenv(base_models.DOWNLOADS_ENV, "1")
    assert base_models.resolve_model("someone/a-400b-model") == "someone/a-400b-model"


def test_importing_the_model_layer_makes_the_hub_libraries_offline(tmp_path: Path):
    """Jobs inherit the environment of the process that starts them, so the default must be set there."""
    environment = {k: v for k, v in os.environ.items() if not k.endswith("_OFFLINE")}
    environment.pop("PLURALIGN_ALLOW_DOWNLOADS", None)
    probe = "import os, pluralign_core.models.base; print(os.environ.get('HF_HUB_OFFLINE'))"
    command = [sys.executable, "-c", probe]
    offline = subprocess.run(command, env=environment, cwd=paths.REPO_ROOT, capture_output=True, text=True)
    assert offline.stdout.strip() == "1", offline.stderr
    opted_in = {**environment, "PLURALIGN_ALLOW_DOWNLOADS": "1"}
    online = subprocess.run(command, env=opted_in, cwd=paths.REPO_ROOT, capture_output=True, text=True)
    assert online.stdout.strip() == "None", online.stderr


def test_pickled_weights_are_never_loaded(tiny_model_dir: Path, tmp_path: Path):
    """Finding 8: without ``use_safetensors=True`` a folder with only ``pytorch_model.bin`` was unpickled."""
    import shutil

    import torch
    from safetensors.torch import load_file

    from pluralign_core.models import base as base_models

    folder = tmp_path / "pickled-model"
    shutil.copytree(tiny_model_dir, folder)
    for weights in folder.glob("*.safetensors"):
        torch.save(load_file(weights), folder / "pytorch_model.bin")
        weights.unlink()
    with pytest.raises(OSError, match="safetensors"):
        base_models.load_model_and_tokenizer(str(folder))


def test_torch_is_pinned_to_a_version_with_safe_loading():
    import tomllib

    project = tomllib.loads((paths.REPO_ROOT / "pyproject.toml").read_text())["project"]
    pins = [d for d in project["dependencies"] if d.replace(" ", "").startswith("torch>=")]
    assert pins and pins[0].replace(" ", "").startswith("torch>=2.6"), pins


def test_dataset_folders_of_two_ids_with_one_safe_name_differ(pluralign_home: Path):
    """Finding 4: deleting dataset "a b" removed ``datasets/a-b/``, which may belong to dataset "a-b"."""
    from pluralign_core.ratings.importing import spec_path

    assert spec_path("a b").parent != spec_path("a-b").parent
    assert spec_path("a-b").parent.name == "a-b"  # a safe id keeps its readable folder
    assert spec_path("gender=男").parent != spec_path("gender=女").parent
