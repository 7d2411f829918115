"""nni-nas search's messages: a taken port names who holds it and how to pick another; printed commands work
whether or not .venv is activated (the e2e evolution search checks the port message against a real manager)."""

from __future__ import annotations

import socket
import sys
import threading
from pathlib import Path

from nni_nas.commands.search import port_taken_message, tool_command


def test_a_port_held_by_something_else_says_so_and_names_both_knobs():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]

        def answer_nonsense():
            connection, _ = server.accept()
            connection.sendall(b"SSH-2.0-not-http\r\n\r\n")
            connection.close()

        threading.Thread(target=answer_nonsense, daemon=True).start()
        message = port_taken_message(port)
    assert message.startswith(f"port {port} is already in use: a program that is not an NNI manager holds it")
    assert "--port" in message and "PORT=8090 bash scripts/quickstart.sh" in message


def test_printed_commands_use_the_full_path_unless_the_environment_is_on_path(monkeypatch):
    bin_dir = Path(sys.executable).parent
    monkeypatch.setenv("PATH", "/usr/bin:/bin")  # .venv not activated
    assert tool_command("nnictl") == str(bin_dir / "nnictl")
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")  # source .venv/bin/activate
    assert tool_command("nnictl") == "nnictl"
