import socket

import pytest

from cohortstream.localstack.processes import StackError, port_is_free, require_free_ports


def test_taken_port_is_reported_by_name_and_number():
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        assert not port_is_free(port)
        with pytest.raises(StackError, match=rf"{port} \(Kafka broker\)"):
            require_free_ports({"Kafka broker": port})
