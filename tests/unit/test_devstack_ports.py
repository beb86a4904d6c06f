"""The local stack's fixed ports lie in Linux's ephemeral range: finding who holds one as a source port."""

from __future__ import annotations

import os
import socket
import sys

import pytest
from lineup_tools.devstack.services import outgoing_port_holders, port_in_use

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/net/tcp (Linux only)")


def test_a_source_port_of_an_outgoing_connection_is_found_with_its_process() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        with socket.socket() as client:
            client.bind(("127.0.0.1", 0))  # the source port a "service" would later want to listen on
            source = client.getsockname()[1]
            client.connect(listener.getsockname())
            accepted, _ = listener.accept()
            with accepted:
                assert port_in_use(source)
                assert outgoing_port_holders(source) == {os.getpid()}
        # a listening socket is a real conflict, reported elsewhere; it is not an outgoing connection
        assert outgoing_port_holders(listener.getsockname()[1]) == set()
