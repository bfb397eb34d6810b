"""The stop request of the command line (training/runtime.py): the first SIGINT/SIGTERM asks
for a stop at the next safe point, a second one stops at once, except that under torchrun a
repeat within ECHO_S of the first is the agent forwarding the same signal to its workers."""

import signal

import pytest

from training import runtime


def test_a_second_signal_stops_at_once(monkeypatch):
    monkeypatch.delenv("TORCHELASTIC_RUN_ID", raising=False)
    rt = runtime.Runtime(progress=False)
    assert not rt.should_stop()
    rt.request_stop(signal.SIGINT)
    assert rt.should_stop()
    with pytest.raises(KeyboardInterrupt):
        rt.request_stop(signal.SIGINT)


@pytest.mark.parametrize("second", [signal.SIGINT, signal.SIGTERM])
def test_under_torchrun_the_agents_echo_is_the_same_request(monkeypatch, second):
    monkeypatch.setenv("TORCHELASTIC_RUN_ID", "test")
    clock = {"t": 100.0}
    monkeypatch.setattr(runtime.time, "monotonic", lambda: clock["t"])
    rt = runtime.Runtime(progress=False)
    rt.request_stop(signal.SIGINT)
    clock["t"] += runtime.ECHO_S / 2
    rt.request_stop(second)  # the forwarded copy: still one stop at the next safe point
    assert rt.should_stop()
    clock["t"] += runtime.ECHO_S  # later: a deliberate second request
    with pytest.raises(KeyboardInterrupt):
        rt.request_stop(second)
