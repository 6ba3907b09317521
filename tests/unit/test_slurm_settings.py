"""Job settings: Slurm's time syntax, and every invalid setting refused with the reason."""

from __future__ import annotations

import pytest

from ezpipe.errors import DefinitionError
from ezpipe.slurm import make_job, time_seconds


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("5", 300),
        ("0:45", 45),
        ("01:30:00", 5400),
        ("2-0", 172800),
        ("1-02:03", 93780),
        ("1-00:00:10", 86410),
    ],
)
def test_slurm_time_formats(text, seconds):
    assert time_seconds(text) == seconds


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"resources": {"time": "1h"}}, "not a Slurm time"),
        ({"resources": {"mem": "lots"}}, "not a Slurm memory size"),
        ({"resources": {"ntasks": 0}}, "greater than or equal to 1"),
        ({"resources": {"ntasks": 2, "nodes": 4}}, "leaves nodes idle"),
        ({"resources": {"ntasks": 4}, "cluster": {"mpi": "none"}}, "independent 1-rank copies"),
        ({"resources": {"time": "2"}, "cluster": {"stop_signal_seconds": 120}}, "at once"),
        ({"resubmit": 1, "cluster": {"stop_signal_seconds": 0}}, "needs a stop signal"),
        ({"cluster": {"partiton": "x"}}, "Extra inputs are not permitted"),
        ({"cluster": {"setup": ["a\nb"]}}, "one line"),
        ({"cluster": {"env": {"1X": "y"}}}, "not an environment variable name"),
    ],
)
def test_invalid_settings_say_what_is_wrong(settings, message):
    with pytest.raises(DefinitionError, match=message):
        make_job(settings, {"script": "p.py"})
