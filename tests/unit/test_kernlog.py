from servicedown.probes import kernlog

LOG = """[ 4132.246950] oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=abc,mems_allowed=0,oom_memcg=/docker/abc123,task_memcg=/docker/abc123,task=python,pid=1,uid=0
[ 4132.246975] Memory cgroup out of memory: Killed process 21385 (python3) total-vm:235160kB
[ 4232.425812] oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=def,mems_allowed=0,oom_memcg=/docker/def456/system.slice,task_memcg=/docker/def456/system.slice/qbitel.service
garbage \x00 line
"""


def test_kills_of_one_container_with_epoch_times():
    assert kernlog.parse(LOG, "abc123", 1000.0) == [5132.24695]
    assert kernlog.parse(LOG, "qbitel.service", 0.0) == [4232.425812]
    assert kernlog.parse(LOG, "nope", 0.0) == []


def test_unreadable_or_garbage_is_empty_not_an_error():
    assert kernlog.parse("", "x", 0) == []
    assert kernlog.parse("\x00\xff[ x ] oom-kill:", "x", 0) == []
