"""HTTP request headers parsed without the e-mail parser, to the same message.

Both servers (eventlet's and Werkzeug's) read a request's headers through the standard
library's `http.client.parse_headers`, which hands them to `email.parser`: a general MIME
parser whose line splitting and regular expressions were a tenth of the server's CPU under
upload load (docs/performance.md). `parse_headers` here builds the same `HTTPMessage`
directly when every line is a plain `Name: value` line ending in CRLF, which is what
browsers, `requests` and proxies send; any other block (folded lines, bare LF, a line
without a colon, obsolete `From ` lines) goes to the standard parser, so odd input gets
exactly its handling.
"""

from __future__ import annotations

import email.parser
import http.client
import re
from typing import BinaryIO

_MAXLINE = http.client._MAXLINE  # the standard library's own limits, kept
_MAXHEADERS = http.client._MAXHEADERS
# What the e-mail parser takes for a header's name (`email.feedparser.headerRE`), then the colon.
_PLAIN_LINE = re.compile(rb"[\x21-\x39\x3b-\x7e]+:[^\r\n]*\r\n")


def read_header_lines(fp: BinaryIO) -> list[bytes]:
    """The header lines up to and including the empty one, within the standard library's limits."""
    lines = []
    while True:
        line = fp.readline(_MAXLINE + 1)
        if len(line) > _MAXLINE:
            raise http.client.LineTooLong("header line")
        lines.append(line)
        if len(lines) > _MAXHEADERS:
            raise http.client.HTTPException(f"got more than {_MAXHEADERS} headers")
        if line in (b"\r\n", b"\n", b""):
            return lines


def parse_headers(fp: BinaryIO, _class: type = http.client.HTTPMessage) -> http.client.HTTPMessage:
    """`http.client.parse_headers`, with the same result, several times faster for plain headers."""
    lines = read_header_lines(fp)
    if lines[-1] != b"\r\n" or not all(_PLAIN_LINE.fullmatch(line) for line in lines[:-1]):
        return email.parser.Parser(_class=_class).parsestr(b"".join(lines).decode("iso-8859-1"))
    message = _class()
    for line in lines[:-1]:
        name, value = line.decode("iso-8859-1").split(":", 1)
        message.set_raw(name, value.lstrip(" \t")[:-2])  # as the parser's compat32 policy stores it
    message.set_payload("")
    return message


def install() -> None:
    """Make the standard library's HTTP servers (and so eventlet's and Werkzeug's) use `parse_headers`."""
    http.client.parse_headers = parse_headers
