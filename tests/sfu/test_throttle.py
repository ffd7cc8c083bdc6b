"""Failed joins back off per address; other addresses and successful joins are untouched."""

from sfu.web.throttle import JoinThrottle, ThrottleConfig


def test_failures_past_the_free_ones_block_for_doubling_times() -> None:
    throttle = JoinThrottle(ThrottleConfig(free_failures=2, base_seconds=1.0, max_seconds=4.0))
    for _ in range(2):
        throttle.failed("10.0.0.1", 100.0)
    assert throttle.blocked_for("10.0.0.1", 100.0) == 0.0
    delays = []
    for _ in range(4):
        throttle.failed("10.0.0.1", 100.0)
        delays.append(throttle.blocked_for("10.0.0.1", 100.0))
    assert delays == [1.0, 2.0, 4.0, 4.0]
    assert throttle.blocked_for("10.0.0.1", 103.0) == 1.0
    assert throttle.blocked_for("10.0.0.1", 105.0) == 0.0
    assert throttle.blocked_for("10.0.0.2", 100.0) == 0.0


def test_success_and_time_forget_an_address() -> None:
    throttle = JoinThrottle(ThrottleConfig(free_failures=0, forget_seconds=60.0))
    throttle.failed("a", 0.0)
    throttle.succeeded("a")
    assert throttle.blocked_for("a", 0.0) == 0.0
    throttle.failed("b", 0.0)
    throttle.failed("b", 1.0)
    assert throttle.blocked_for("b", 1.0) == 2.0
    throttle.failed("b", 100.0)  # a minute idle: starts afresh
    assert throttle.blocked_for("b", 100.0) == 1.0


def test_the_table_is_bounded() -> None:
    throttle = JoinThrottle(ThrottleConfig(max_addresses=3))
    for n in range(10):
        throttle.failed(f"10.0.0.{n}", float(n))
    assert len(throttle) == 3
