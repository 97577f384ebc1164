"""The batch deadline: waits never pass it, locks taken in a task die with the task."""

from __future__ import annotations

import pytest

from connectors.deadline import (
    DeadlineReached,
    check_wait,
    deadline,
    in_task,
    lock_ttl,
    lock_wait,
    remaining,
    too_late,
)
from connectors.errors import RateLimited, TransientError
from connectors.http import call_with_retries


def test_no_deadline_outside_a_task():
    assert remaining() is None
    assert not in_task()
    assert not too_late(1e9)
    check_wait(1e9, "anything")  # the command line waits as long as its own limits say
    assert lock_ttl(900) == 900
    assert lock_wait(120) == 120


def test_a_wait_past_the_deadline_is_refused_as_a_deferral():
    with deadline(10):
        check_wait(5, "a short wait")
        with pytest.raises(DeadlineReached) as caught:
            check_wait(30, "the rate-limit budget")
    assert isinstance(caught.value, RateLimited)  # "not now, later": no attempt used up
    assert caught.value.retry_after == 30
    assert "the rate-limit budget" in caught.value.message
    assert remaining() is None  # the block restores the outer state


def test_nested_deadlines_restore_the_outer_one():
    with deadline(100):
        with deadline(5):
            assert remaining() <= 5
        assert 5 < remaining() <= 100
    assert remaining() is None


def test_too_late_uses_a_quarter_of_a_short_deadline():
    with deadline(400):
        assert not too_late(30)  # 400 s left, 30 s needed
    with deadline(8):
        assert not too_late(30)  # 8 s left: a quarter (2 s) is the slack, not 30 s
    with deadline(4):
        assert not too_late(30)  # 4 s left, 1 s of slack
    with deadline(-1):
        assert too_late(30)


def test_a_lock_taken_in_a_task_dies_soon_after_the_task_could():
    with deadline(30, hard_limit=50):
        assert in_task()
        assert 79 < lock_ttl(900) <= 80  # the hard limit and half a minute
        assert lock_ttl(60) == 60  # never longer than asked
        assert lock_wait(120) <= 15  # never more than half the time left
    with deadline(30):  # no hard limit known: the lock lives as long as asked
        assert not in_task()
        assert lock_ttl(900) == 900
    with deadline(0):
        assert lock_wait(120) == 0.5


def test_retries_stop_when_the_next_one_would_pass_the_deadline():
    calls = []
    slept = []

    def flaky():
        calls.append(1)
        raise TransientError("HTTP 503")

    with deadline(0.1), pytest.raises(TransientError):
        call_with_retries(flaky, sleep=slept.append, max_attempts=10, floor=5, cap=5)
    assert len(calls) == 1  # a 5 s backoff does not fit in 0.1 s
    assert slept == []


def test_a_429_longer_than_the_time_left_defers_instead_of_sleeping():
    slept = []

    def limited():
        raise RateLimited("HTTP 429", retry_after=20)

    with deadline(5), pytest.raises(DeadlineReached) as caught:
        call_with_retries(limited, sleep=slept.append, max_rate_limit_wait=300)
    assert slept == []
    assert caught.value.retry_after == 20

    answers = iter([RateLimited("HTTP 429", retry_after=1), "ok"])

    def once():
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    with deadline(5):
        assert call_with_retries(once, sleep=slept.append) == "ok"
    assert slept == [1]


def test_a_batch_task_works_to_the_limits_its_message_carries(settings):
    """Celery applies the limits the producer put in the message, not the worker's own
    settings: the deadline and the locks follow what will really stop the task."""
    from profiles.tasks import batch_deadline, time_limits

    settings.CELERY_TASK_SOFT_TIME_LIMIT = 540
    settings.CELERY_TASK_TIME_LIMIT = 600
    assert time_limits([20, 8]) == (8.0, 20.0)
    assert time_limits(None) == (540.0, 600.0)
    assert time_limits((None, None)) == (540.0, 600.0)
    assert batch_deadline(540) == 420  # two minutes kept for the last request and writes
    assert batch_deadline(8) == 6  # a short limit keeps a quarter
