"""`grader.sandbox.limits.pin`: a job's child keeps to one core of those it was given."""

from __future__ import annotations

import os

import pytest

from coursekit import in_fork
from grader.sandbox import limits

pytestmark = pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="no CPU affinity on this system")


def pinned(cores):
    """[the affinity, limits.CORES] of a forked process after `limits.pin(cores)`."""
    def pin():
        limits.pin(cores)
        return [sorted(os.sched_getaffinity(0)), list(limits.CORES)]

    return in_fork(pin)


def test_a_child_keeps_to_one_core_of_those_it_may_use():
    allowed = sorted(os.sched_getaffinity(0))
    affinity, cores = pinned(None)
    assert len(affinity) == 1 and affinity[0] in allowed and cores == allowed


def test_a_child_given_a_core_keeps_to_it():
    last = sorted(os.sched_getaffinity(0))[-1]
    assert pinned([last]) == [[last], [last]]


def test_cores_it_may_not_use_are_ignored():
    allowed = sorted(os.sched_getaffinity(0))
    affinity, cores = pinned([10_000])
    assert len(affinity) == 1 and cores == allowed
