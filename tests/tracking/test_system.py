from __future__ import annotations

import subprocess
import sys
import threading
import time
import types
from dataclasses import FrozenInstanceError
from pathlib import Path

import pytest

from modelyard import Client
from modelyard.errors import InvalidInput, NotFound
from modelyard.tracking import system
from modelyard.tracking.system import ResourceUsage, SamplingThread, SystemSampler

BASE_KEYS = {
    "system/cpu_percent",
    "system/rss_bytes",
    "system/num_threads",
    "system/host_memory_percent",
}


class Recorder:
    def __init__(self) -> None:
        self.samples: list[tuple[dict[str, float], int]] = []

    def __call__(self, values: dict[str, float], step: int) -> None:
        self.samples.append((values, step))


def burn_cpu(seconds: float) -> None:
    end = time.process_time() + seconds
    while time.process_time() < end:
        pass


def wait_for_samples(recorder: Recorder, count: int, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while len(recorder.samples) < count and time.monotonic() < deadline:
        time.sleep(0.01)


@pytest.fixture(autouse=True)
def no_nvml(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests see no GPU unless they install a fake NVML."""
    monkeypatch.setitem(sys.modules, "pynvml", None)


def fake_nvml(utilization: int = 50, used: int = 1024, count: int = 2) -> types.ModuleType:
    nvml = types.ModuleType("pynvml")
    nvml.shutdowns = 0  # type: ignore[attr-defined]

    def shutdown() -> None:
        nvml.shutdowns += 1  # type: ignore[attr-defined]

    nvml.nvmlInit = lambda: None  # type: ignore[attr-defined]
    nvml.nvmlShutdown = shutdown  # type: ignore[attr-defined]
    nvml.nvmlDeviceGetCount = lambda: count  # type: ignore[attr-defined]
    nvml.nvmlDeviceGetHandleByIndex = lambda i: f"gpu{i}"  # type: ignore[attr-defined]
    nvml.nvmlDeviceGetUtilizationRates = lambda h: types.SimpleNamespace(gpu=utilization)  # type: ignore[attr-defined]
    nvml.nvmlDeviceGetMemoryInfo = lambda h: types.SimpleNamespace(used=used)  # type: ignore[attr-defined]
    return nvml


def test_samples_and_usage() -> None:
    recorder = Recorder()
    sampler = SystemSampler(recorder, interval_s=0.05)
    sampler.start()
    burn_cpu(0.3)
    wait_for_samples(recorder, 3)
    usage = sampler.stop()

    assert len(recorder.samples) >= 3
    assert [step for _, step in recorder.samples] == list(range(len(recorder.samples)))
    for values, _ in recorder.samples:
        assert values.keys() >= BASE_KEYS
        assert all(isinstance(v, float) for v in values.values())
        assert not any(key.startswith("system/gpu") for key in values)
        assert values["system/rss_bytes"] > 0
        assert values["system/num_threads"] >= 2  # the main thread and the sampler
        assert 0 < values["system/host_memory_percent"] <= 100
    if sys.platform.startswith("linux"):
        assert {"system/disk_read_bytes", "system/net_sent_bytes"} <= recorder.samples[0][0].keys()
    assert max(values["system/cpu_percent"] for values, _ in recorder.samples) > 10

    assert usage.cpu_time_s > 0.1
    assert usage.wall_time_s >= usage.cpu_time_s * 0.5
    assert usage.peak_rss_bytes >= max(v["system/rss_bytes"] for v, _ in recorder.samples)
    assert (usage.gpu_time_s, usage.gpu_count) == (0.0, 0)


def test_children_are_counted() -> None:
    sampler = SystemSampler(Recorder(), interval_s=0)
    sampler.start()
    code = "import time\nend = time.process_time() + 0.3\nwhile time.process_time() < end: pass"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=30)
    assert sampler.stop().cpu_time_s > 0.25


@pytest.mark.parametrize("from_kernel", [True, False], ids=["kernel-lists", "psutil-scan"])
def test_descendants_are_found(from_kernel: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    import psutil

    if from_kernel and not system._kernel_lists_children():
        pytest.skip("this kernel keeps no /proc/PID/task/TID/children")
    monkeypatch.setattr(system, "_kernel_lists_children", lambda: from_kernel)
    code = (
        "import subprocess, sys, time\n"
        "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(30)'])\n"
        "time.sleep(30)"
    )
    child = subprocess.Popen([sys.executable, "-c", code])
    try:
        me = psutil.Process()
        deadline = time.monotonic() + 20
        while len(me.children(recursive=True)) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        expected = {p.pid for p in me.children(recursive=True)}
        assert len(expected) >= 2  # the child and its own child
        assert {p.pid for p in system._descendants(me)} == expected
    finally:
        for p in psutil.Process(child.pid).children(recursive=True):
            p.kill()
        child.kill()
        child.wait(timeout=10)


def test_interval_zero_takes_no_samples() -> None:
    recorder = Recorder()
    before = set(threading.enumerate())
    sampler = SystemSampler(recorder, interval_s=0)
    sampler.start()
    assert set(threading.enumerate()) == before
    burn_cpu(0.1)
    usage = sampler.stop()
    assert recorder.samples == []
    assert usage.cpu_time_s > 0.05
    assert usage.peak_rss_bytes > 0


def test_stop_is_prompt_and_idempotent() -> None:
    sampler = SystemSampler(Recorder(), interval_s=10)
    sampler.start()
    t0 = time.monotonic()
    usage = sampler.stop()
    assert time.monotonic() - t0 < 0.5
    assert sampler.stop() is usage
    assert not any(t.name == "modelyard-system-metrics" for t in threading.enumerate())


@pytest.mark.parametrize("shared", [False, True], ids=["own-thread", "shared-thread"])
def test_gpu_metrics_from_nvml(shared: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    nvml = fake_nvml(utilization=50, used=2048, count=2)
    monkeypatch.setitem(sys.modules, "pynvml", nvml)
    recorder = Recorder()
    thread = SamplingThread() if shared else None
    sampler = SystemSampler(recorder, interval_s=0.05, thread=thread)
    sampler.start()
    wait_for_samples(recorder, 3)
    usage = sampler.stop()
    if thread is not None:
        thread.close()

    values = recorder.samples[0][0]
    assert values["system/gpu0_utilization"] == values["system/gpu1_utilization"] == 50.0
    assert values["system/gpu0_memory_bytes"] == values["system/gpu1_memory_bytes"] == 2048.0
    assert usage.gpu_count == 2
    # Two GPUs at 50% for ~0.05 s per sample: one GPU-second per second of sampling.
    sampled_s = 0.05 * len(recorder.samples)
    assert usage.gpu_time_s == pytest.approx(sampled_s, rel=0.5)
    assert nvml.shutdowns == 1  # type: ignore[attr-defined]


def test_failing_nvml_means_no_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    nvml = fake_nvml()

    def broken() -> None:
        raise RuntimeError("NVML_ERROR_DRIVER_NOT_LOADED")

    nvml.nvmlInit = broken  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "pynvml", nvml)
    recorder = Recorder()
    sampler = SystemSampler(recorder, interval_s=0.05)
    sampler.start()
    wait_for_samples(recorder, 1)
    usage = sampler.stop()
    assert recorder.samples
    assert not any(k.startswith("system/gpu") for v, _ in recorder.samples for k in v)
    assert (usage.gpu_time_s, usage.gpu_count) == (0.0, 0)


def test_a_failing_sink_does_not_stop_sampling() -> None:
    calls: list[int] = []

    def sink(values: dict[str, float], step: int) -> None:
        calls.append(step)
        raise RuntimeError("store is down")

    sampler = SystemSampler(sink, interval_s=0.05)
    sampler.start()
    deadline = time.monotonic() + 5
    while len(calls) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    sampler.stop()
    assert calls[:2] == [0, 1]


def test_watched_process_that_exits() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(0.2)"])
    recorder = Recorder()
    sampler = SystemSampler(recorder, interval_s=0.05, pid=child.pid)
    sampler.start()
    child.wait(timeout=30)
    time.sleep(0.15)
    usage = sampler.stop()
    assert usage.wall_time_s > 0
    assert usage.peak_rss_bytes > 0


def test_misuse() -> None:
    with pytest.raises(InvalidInput, match="interval_s"):
        SystemSampler(Recorder(), interval_s=-1)
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait(timeout=30)
    with pytest.raises(NotFound, match="no process"):
        SystemSampler(Recorder(), interval_s=0, pid=gone.pid).start()
    sampler = SystemSampler(Recorder(), interval_s=0)
    with pytest.raises(RuntimeError, match="not started"):
        sampler.stop()
    sampler.start()
    with pytest.raises(RuntimeError, match="already started"):
        sampler.start()
    sampler.stop()


def test_resource_usage_is_frozen() -> None:
    usage = ResourceUsage(wall_time_s=1.0, cpu_time_s=0.5, peak_rss_bytes=1)
    with pytest.raises(FrozenInstanceError):
        usage.cpu_time_s = 2.0  # type: ignore[misc]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="peak RSS is read from /proc")
def test_peak_rss_of_a_child_is_its_own_not_its_large_parents() -> None:
    ballast = bytearray(300 * 1024 * 1024)
    ballast[::4096] = b"\x01" * len(ballast[::4096])
    code = (
        "from modelyard.tracking.system import SystemSampler\n"
        "s = SystemSampler(lambda v, n: None, interval_s=0); s.start()\n"
        "print(s.stop().peak_rss_bytes)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], check=True, timeout=60, capture_output=True, text=True
    )
    del ballast
    peak = int(done.stdout.strip())
    assert 0 < peak < 200 * 1024 * 1024


def test_samplers_share_a_sampling_thread() -> None:
    shared = SamplingThread()
    first, second = Recorder(), Recorder()
    a = SystemSampler(first, interval_s=0.05, thread=shared)
    b = SystemSampler(second, interval_s=0.03, thread=shared)
    before = {t for t in threading.enumerate() if t.name == "modelyard-system-metrics"}
    a.start()
    b.start()
    ours = {t for t in threading.enumerate() if t.name == "modelyard-system-metrics"} - before
    assert len(ours) == 1
    wait_for_samples(first, 2)
    wait_for_samples(second, 3)
    a.stop()
    taken = len(first.samples)
    wait_for_samples(second, len(second.samples) + 2)  # b goes on, a takes no more
    assert len(first.samples) == taken
    b.stop()
    for recorder in (first, second):
        assert [step for _, step in recorder.samples] == list(range(len(recorder.samples)))
        assert recorder.samples[0][0].keys() >= BASE_KEYS
    shared.close()
    assert not any(t.is_alive() for t in ours)
    with pytest.raises(RuntimeError):
        shared.add(SystemSampler(Recorder(), interval_s=0.05))


def test_a_clients_runs_share_one_sampling_thread(tmp_path: Path) -> None:
    def sampling_threads() -> int:
        return sum(t.name == "modelyard-system-metrics" for t in threading.enumerate())

    before = sampling_threads()
    tracking = {"system_metrics_interval_s": 5, "capture_packages": False}
    with Client(home=tmp_path, tracking=tracking) as client:
        with client.start_run("p", capture="usage") as outer:
            for _ in range(3):
                with outer.start_run(capture="usage"):
                    assert sampling_threads() == before + 1
        assert sampling_threads() == before + 1
        assert client.get_run(outer.id).wall_time_s is not None
    assert sampling_threads() == before


def test_a_child_already_running_counts_only_what_it_uses_during_the_run() -> None:
    code = (
        "import sys, time\n"
        "end = time.process_time() + 1.0\n"
        "while time.process_time() < end: pass\n"
        "print('busy', flush=True)\n"
        "sys.stdin.read()\n"
    )
    child = subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "busy"
        sampler = SystemSampler(Recorder(), interval_s=0.05)
        sampler.start()
        time.sleep(0.2)
        usage = sampler.stop()
    finally:
        child.communicate("", timeout=30)
    assert usage.cpu_time_s < 0.5  # not the second the child burnt before the run
