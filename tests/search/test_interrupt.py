"""A Ctrl-C that a library swallows still stops the search at its next safe point."""

from __future__ import annotations

import os
import signal

import pytest

from autoprune.search._interrupt import CtrlC


def test_a_swallowed_ctrl_c_is_raised_again_at_the_next_check():
    with CtrlC() as ctrl_c:
        ctrl_c.check()  # nothing pressed yet
        try:
            os.kill(os.getpid(), signal.SIGINT)
        except KeyboardInterrupt:
            pass  # what a garbage-collection callback does with it: dropped
        with pytest.raises(KeyboardInterrupt):
            ctrl_c.check()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # restored


def test_a_handler_of_the_users_own_is_left_alone():
    def mine(signum, frame):
        pass

    previous = signal.signal(signal.SIGINT, mine)
    try:
        with CtrlC():
            assert signal.getsignal(signal.SIGINT) is mine
    finally:
        signal.signal(signal.SIGINT, previous)
