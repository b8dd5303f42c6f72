"""The ready line: the URL to open here, and with --host 0.0.0.0 the addresses students can type."""

from __future__ import annotations

import ipaddress
import re

from realtime.serving.cli import lan_addresses, ready_line


def test_a_local_server_names_its_own_url():
    assert ready_line("127.0.0.1", 5000) == "Digit recogniser ready on http://127.0.0.1:5000/"
    assert ready_line("::1", 8080) == "Digit recogniser ready on http://[::1]:8080/"


def test_serving_the_lan_lists_the_addresses_students_can_type():
    line = ready_line("0.0.0.0", 5000, lan=["192.168.1.20", "10.0.0.7"])
    assert line == ("Digit recogniser ready on http://127.0.0.1:5000/ "
                    "(students: http://192.168.1.20:5000/, http://10.0.0.7:5000/)")
    assert "0.0.0.0" not in line
    # The tests and scripts find the URL after "ready on http://".
    assert re.search(r"ready on (http://\S+)", line)[1] == "http://127.0.0.1:5000/"


def test_no_network_is_said_plainly():
    assert ready_line("0.0.0.0", 5000, lan=[]).endswith("(students: no network address found: is Wi-Fi on?)")


def test_this_machines_addresses_are_usable_ipv4():
    for address in lan_addresses():
        parsed = ipaddress.IPv4Address(address)
        assert not parsed.is_loopback and not parsed.is_link_local and not parsed.is_unspecified
