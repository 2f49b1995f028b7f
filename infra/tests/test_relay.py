"""The supervisor's line relay (infra/local/relay.py): what reaches the terminal for the bytes a
process writes, however its writes are cut (the supervisor relaying a real process that exits
in the middle of a line: infra/tests/test_supervisor.py)."""

from __future__ import annotations

import sys

from conftest import ROOT

sys.path.insert(0, str(ROOT / "infra" / "local"))
from relay import Relay

T = b"12:00:01"


def test_complete_lines_are_prefixed_each_and_relayed_in_one_piece() -> None:
    relay = Relay(b"users-web ")
    assert relay.feed(b"one\ntwo\n\nthree\n", T) == (
        b"12:00:01 users-web  | one\n12:00:01 users-web  | two\n"
        b"12:00:01 users-web  | \n12:00:01 users-web  | three\n"
    )
    assert relay.pending == b""


def test_a_partial_line_waits_for_its_end_across_reads() -> None:
    relay = Relay(b"w")
    assert relay.feed(b"fir", T) == b""
    assert relay.feed(b"st\nsec", T) == b"12:00:01 w | first\n"
    assert relay.feed(b"ond", T) == b""
    assert relay.feed(b"\n", b"12:00:02") == b"12:00:02 w | second\n"
    assert relay.pending == b""


def test_the_partial_last_line_of_a_process_that_exits_is_completed() -> None:
    relay = Relay(b"w")
    assert relay.feed(b"done\nhalf a li", T) == b"12:00:01 w | done\n"
    assert relay.finish(T) == b"12:00:01 w | half a li\n"
    assert relay.finish(T) == b""  # nothing left


def test_non_utf8_bytes_pass_unchanged_and_the_tail_decodes_them_with_replacement() -> None:
    relay = Relay(b"w")
    assert relay.feed(b"caf\xe9 \xff\xfe\n", T) == b"12:00:01 w | caf\xe9 \xff\xfe\n"
    assert relay.tail(20) == ["caf\ufffd \ufffd\ufffd"]


def test_a_line_longer_than_max_line_is_relayed_in_pieces_of_that_size() -> None:
    relay = Relay(b"w", max_line=4)
    assert relay.feed(b"abcdefghij", T) == b"12:00:01 w | abcd\n12:00:01 w | efgh\n"
    assert relay.pending == b"ij"
    assert relay.feed(b"k\n", T) == b"12:00:01 w | ijk\n"
    assert relay.feed(b"x\nlonglongline", T) == (
        b"12:00:01 w | x\n12:00:01 w | long\n12:00:01 w | long\n12:00:01 w | line\n"
    )
    assert relay.pending == b""


def test_the_tail_keeps_the_last_lines_within_its_byte_budget_and_the_partial_one() -> None:
    relay = Relay(b"w", tail_bytes=12)
    relay.feed(b"aaaa\nbbbb\n", T)
    assert relay.tail(20) == ["aaaa", "bbbb"]
    relay.feed(b"cccc\ndd", T)  # 15 bytes of lines: "aaaa" is cut, dropped whole
    assert relay.tail(20) == ["bbbb", "cccc", "dd"]
    assert relay.tail(2) == ["cccc", "dd"]
    relay.feed(b"\n" + b"e" * 30 + b"\n", T)  # one line longer than the budget
    assert relay.tail(20) == []  # only its end is kept: not a whole line
