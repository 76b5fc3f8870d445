from servicedown.backends.command import CommandResult
from servicedown.config import Settings
from servicedown.probes import hostfacts
from tests.fakes import FakeTarget, results

V1 = """pid_alive=1
nofile_soft=64
fds=60
cores=2
mem_usage=250000000
mem_limit=268435456
mem_inactive_file=1000000
mem_failcnt=3
cpu_quota=50000
cpu_period=100000
cpu_used_ns=480000000
cpu_wall_ns=1000000000
disk=/ 1000 500 500 /
inodes=/ 100 10 90
disk=/var/lib/qbitel 8192 8192 0 /var/lib/qbitel
inodes=/var/lib/qbitel 1000 1000 0
disk=/nope missing
"""


def test_parse_cgroup_v1_limits_and_ratios():
    f = hostfacts.parse(V1)
    assert f.pid_alive and f.fds == 60 and f.nofile_soft == 64
    assert f.fd_ratio == 60 / 64
    assert f.mem_limit == 268435456
    assert f.mem_working_set == 249000000
    assert 0.92 < f.mem_ratio < 0.93
    assert f.cpu_limit_cores == 0.5
    assert abs(f.cpu_ratio - 0.96) < 1e-9
    full = {d.path: d for d in f.disks}["/var/lib/qbitel"]
    assert full.used_ratio == 1.0 and full.inode_ratio == 1.0
    assert f.missing_paths == ["/nope"]


def test_parse_cgroup_v2_and_unlimited():
    out = "pid_alive=1\nmem_usage=1000\nmem_limit=max\ncpu_quota=max 100000\ncores=4\n" \
          "cpu_used_ns=2000000000\ncpu_wall_ns=1000000000\nnofile_soft=unlimited\nfds=9\n"
    f = hostfacts.parse(out)
    assert f.mem_limit is None and f.mem_ratio is None
    assert f.cpu_limit_cores is None and f.cpu_capacity == 4.0 and f.cpu_ratio == 0.5
    assert f.nofile_soft is None and f.fd_ratio is None


def test_v1_unlimited_memory_is_no_limit():
    f = hostfacts.parse("mem_usage=10\nmem_limit=9223372036854771712\n")
    assert f.mem_limit is None


def test_v2_cpu_quota():
    f = hostfacts.parse("cpu_quota=150000 100000\ncores=8\n")
    assert f.cpu_limit_cores == 1.5


def test_garbage_is_ignored():
    f = hostfacts.parse("\x00\xff garbage\nfds=abc\ndisk=/ x y z /\n=\n" + "A" * 100000)
    assert f.fds is None and f.disks == [] and not f.pid_alive


def test_command_passes_pid_sample_and_paths():
    argv = hostfacts.command(1, 0.5, ["/", "/data"])
    assert argv[:2] == ["sh", "-c"] and argv[3:] == ["facts", "1", "0.5", "/", "/data"]


def test_throttled_periods_over_the_sample():
    f = hostfacts.parse("cpu_quota=50000\ncpu_period=100000\ncpu_used_ns=330000000\n"
                        "cpu_wall_ns=1000000000\ncpu_throttle=100 40 105 44\n")
    assert f.cpu_periods == 5 and f.cpu_throttled == 0.8
    assert hostfacts.parse("cpu_throttle=0 0 0 0\n").cpu_throttled is None  # no quota: no periods
    assert hostfacts.parse("cpu_throttle=1 2\n").cpu_throttled is None  # an older script's answer


def test_a_quota_that_runs_out_period_after_period_is_saturated_whatever_the_average():
    class Throttled(FakeTarget):
        def run_in_service(self, argv, timeout):
            return CommandResult(0, "pid_alive=1\ncores=2\ncpu_quota=50000\ncpu_period=100000\n"
                                    "cpu_used_ns=330000000\ncpu_wall_ns=1000000000\n"
                                    "cpu_throttle=100 40 105 44\n", "")

    r = results(Throttled(settings=Settings(target="url")), ["resources.cpu"])["resources.cpu"]
    assert r.outcome.value == "fail" and "throttled" in r.message and "80% of 5" in r.message
