"""One recurrence split over threads by hidden units (ops.cpu.split_kernels, runtime.Team).

Inference only (autograd never takes this route), so outputs and final states are what it
computes. Checked against the reference backend through grunet.nn.GRU with the split forced, and
the kernel alone against `kernels.fwd_rows` on fresh random inputs; whatever the machine's core
count, a team always starts its helper threads, so the parts really run concurrently here.
"""

import multiprocessing
import threading
import time
from unittest import mock

import numpy as np
import pytest
import torch

import grunet
from grunet.ops.cpu import infer, runtime
from grunet.ops.cpu import kernels as K
from grunet.ops.cpu import split_kernels as SK
from grunet.ops.cpu.autograd import NO_MASK
from helpers import assert_close

F32, F64 = torch.float32, torch.float64


def _force_split(monkeypatch, parts: int) -> None:
    monkeypatch.setattr(runtime, "empty_np", lambda shape, dtype: np.full(shape, np.nan, dtype))
    monkeypatch.setattr(infer, "_short_pays", lambda *a: False)
    monkeypatch.setattr(infer, "_bound_pays", lambda *a: False)
    monkeypatch.setattr(runtime, "split_parts", lambda *a: parts)
    # no back-off (`runtime.CONTENDED_ROUNDS`, `SLOW_FACTOR`): with three parts on two cores, or
    # a busy CI machine, the team would rightly step aside, and these tests check its results
    monkeypatch.setattr(runtime, "CONTENDED_ROUNDS", 1 << 62)
    monkeypatch.setattr(runtime, "SLOW_FACTOR", float("inf"))
    for team in runtime._teams.values():
        team.backoff_until = 0.0


def _pair(dtype, seed, H, **kwargs):
    torch.manual_seed(seed)
    fast = grunet.nn.GRU(5, H, dtype=dtype, backend="cpu", **kwargs)
    ref = grunet.nn.GRU(5, H, dtype=dtype, backend="reference", **kwargs)
    ref.load_state_dict(fast.state_dict())
    return fast, ref


def _team_jobs(dtype) -> int:
    team = runtime._teams.get(dtype)
    return 0 if team is None else team.seq


@pytest.mark.parametrize("parts", [2, 3])
@pytest.mark.parametrize(("T", "B", "H"), [(1, 1, 64), (13, 1, 96), (40, 3, 64), (7, 4, 128)])
@pytest.mark.parametrize(
    "config",
    [
        {},
        {"reset_after": False},
        {"num_layers": 2, "bidirectional": True, "batch_first": True},
        {"bias": False, "reset_after": False, "bidirectional": True},
    ],
    ids=str,
)
@pytest.mark.parametrize("dtype", [F32, F64], ids=str)
def test_split_module_equals_reference(dtype, config, T, B, H, parts, monkeypatch):
    # H = 64 float32 is 2 panels of units: with 3 parts one part has none. H = 96: an uneven split.
    _force_split(monkeypatch, parts)
    fast, ref = _pair(dtype, T * 7 + B + H, H, **config)
    shape = (B, T, 5) if config.get("batch_first") else (T, B, 5)
    D = 2 if config.get("bidirectional") else 1
    x = torch.randn(shape, dtype=dtype)
    for hx in (None, torch.randn(config.get("num_layers", 1) * D, B, H, dtype=dtype)):
        before = _team_jobs(dtype)
        with torch.no_grad():
            out, h_n = fast(x, hx)
            out_ref, h_ref = ref(x, hx)
        assert_close(out, out_ref)
        assert_close(h_n, h_ref)
    # the second call at the latest ran on the team (the first per dtype may run as one part)
    assert _team_jobs(dtype) > before


@pytest.mark.parametrize("dtype", [F32, F64], ids=str)
@pytest.mark.parametrize("reset_after", [True, False])
@pytest.mark.parametrize("reverse", [False, True])
def test_split_kernel_equals_fwd_rows_over_calls(dtype, reset_after, reverse):
    # The kernel alone, several calls in a row on one team (its barrier counters keep growing),
    # each with fresh random inputs, against the one-thread kernel on the same packed W_hh.
    rng = np.random.default_rng()
    nd = np.float32 if dtype == F32 else np.float64
    T, B, I, H = 11, 2, 3, 128  # noqa: E741
    w_hh = (rng.standard_normal((3 * H, H)) / np.sqrt(H)).astype(nd)
    w_ih, b_ih, b_hh = (rng.standard_normal(s).astype(nd) for s in ((3 * H, I), 3 * H, 3 * H))
    wp, w_t = runtime.packed(w_hh), np.ascontiguousarray(w_ih.T)
    for _ in range(4):
        x, h0 = rng.standard_normal((T, B, I)).astype(nd), rng.standard_normal((B, H)).astype(nd)
        gi = np.einsum("tbi,gi->tbg", x, w_ih).astype(nd) + b_ih
        want, want_h = np.empty((T, B, H), nd), np.empty((B, H), nd)
        K.fwd_rows(0, B, gi, h0, wp, True, b_hh, want, want_h, want, reset_after, reverse,
                   False, NO_MASK, -1)  # fmt: skip
        out, h_n = np.full((T, B, H), np.nan, nd), np.full((B, H), np.nan, nd)
        scratch = np.full((T, B, 3 * H), np.nan, nd)
        hbuf, qbuf = np.empty((2, B, H), nd), np.empty((B, H), nd)
        args = (x, w_t, b_ih, scratch, h0, wp, b_hh, out, h_n, hbuf, qbuf, reset_after, reverse)
        runtime.split(dtype, 2, args)
        tol = 1e-5 if dtype == F32 else 1e-12
        np.testing.assert_allclose(out, want, rtol=tol, atol=tol)
        np.testing.assert_allclose(h_n, want_h, rtol=tol, atol=tol)


def test_calls_from_several_threads_share_one_team(monkeypatch):
    # Several Python threads at once: one runs on the team, the others find it busy and run as
    # one part; every result is right and nothing waits forever.
    _force_split(monkeypatch, 2)
    fast, ref = _pair(F32, 3, 128)
    xs = [torch.randn(17, 1, 5) for _ in range(4)]
    with torch.no_grad():
        fast(xs[0])  # the first call per dtype compiles and runs as one part
        want = [ref(x)[0] for x in xs]
    outs: list = [None] * 4
    start = threading.Barrier(4)

    def work(i):
        start.wait()
        with torch.no_grad():
            for _ in range(20):
                outs[i] = fast(xs[i])[0]

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
        assert not t.is_alive()
    for out, w in zip(outs, want, strict=True):
        assert_close(out, w)


def test_a_team_that_found_a_core_busy_backs_off(monkeypatch):
    # A call whose barriers waited long (another program on the other core) makes the next calls
    # run on one thread for a while; they stay right. Any wait counts as long here.
    _force_split(monkeypatch, 2)
    monkeypatch.setattr(runtime, "CONTENDED_ROUNDS", -1)
    fast, ref = _pair(F32, 9, 128)
    x = torch.randn(11, 1, 5)
    with torch.no_grad():
        fast(x)  # the first call per dtype may run as one part
        fast(x)  # then the team starts
        want = ref(x)[0]
        team = runtime._teams[F32]
        team.backoff_until, team.backoff_s = 0.0, runtime.BACKOFF_MIN_S
        before = _team_jobs(F32)
        assert_close(fast(x)[0], want)  # on the team: it waited, so it backs off
        assert _team_jobs(F32) == before + 1
        assert team.backoff_until > time.monotonic()
        assert_close(fast(x)[0], want)  # on one thread
        assert _team_jobs(F32) == before + 1
        team.backoff_until = 0.0  # the back-off is over: the team again
        assert_close(fast(x)[0], want)
        assert _team_jobs(F32) == before + 2
        assert team.backoff_s == 4 * runtime.BACKOFF_MIN_S  # busy again: twice as long
        monkeypatch.setattr(runtime, "CONTENDED_ROUNDS", 1 << 40)  # the core is free again
        team.backoff_until = 0.0
        assert_close(fast(x)[0], want)
        assert _team_jobs(F32) == before + 3
        assert team.backoff_s == 2 * runtime.BACKOFF_MIN_S  # a quiet call halves it
        assert team.backoff_until < time.monotonic()


def test_a_split_call_much_slower_than_the_fastest_of_its_kind_backs_off(monkeypatch):
    # Another program can preempt part 0's own thread, which then barely waits at the barriers:
    # a call twice as slow a phase as the fastest of its kind counts as having found a core busy.
    _force_split(monkeypatch, 2)
    monkeypatch.setattr(runtime, "SLOW_FACTOR", 2.0)
    fast, ref = _pair(F32, 9, 128)
    x = torch.randn(11, 1, 5)
    with torch.no_grad():
        fast(x)
        fast(x)
        want = ref(x)[0]
        team = runtime._teams[F32]
        team.backoff_until = 0.0
        for kind in team.best:  # as if a call of this kind had once run impossibly fast
            team.best[kind] = 1e-12
        assert_close(fast(x)[0], want)
        assert team.backoff_until > time.monotonic()


def _child(conn) -> None:
    with mock.patch.object(runtime, "split_parts", lambda *a: 2):
        with mock.patch.object(infer, "_short_pays", lambda *a: False):
            with mock.patch.object(infer, "_bound_pays", lambda *a: False):
                torch.manual_seed(5)
                m = grunet.nn.GRU(5, 128, backend="cpu")
                with torch.no_grad():
                    out = m(torch.ones(9, 1, 5))[0]
    conn.send(float(out.sum()))


@pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(), reason="no fork here")
def test_a_forked_child_starts_its_own_team(monkeypatch):
    # The helpers of the parent's team are not copied into a child: a split call there must
    # start a new team, not wait for helpers that do not exist.
    _force_split(monkeypatch, 2)
    fast, _ = _pair(F32, 5, 128)
    with torch.no_grad():
        fast(torch.ones(9, 1, 5))
        want = float(fast(torch.ones(9, 1, 5))[0].sum())
    assert runtime._teams  # the parent has a team
    ctx = multiprocessing.get_context("fork")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=_child, args=(child,))
    proc.start()
    proc.join(timeout=120)
    if proc.is_alive():
        proc.kill()
        pytest.fail("the forked child's split call never finished")
    assert proc.exitcode == 0
    assert parent.recv() == pytest.approx(want, rel=1e-5)


def test_split_parts_rule(monkeypatch):
    monkeypatch.setattr(runtime.numba, "get_num_threads", lambda: 16)
    assert runtime.split_parts(512, 1, 256, 4) == 2  # two parts at most (the measured case)
    assert runtime.split_parts(512, 1, 128, 4) == 2
    assert runtime.split_parts(24, 1, 256, 4) == 2
    assert runtime.split_parts(96, 1, 256, 8) == 2  # float64 too
    assert runtime.split_parts(1, 1, 256, 4) == 1  # too little work to pay the barriers
    assert runtime.split_parts(96, 1, 128, 4) == 1
    assert runtime.split_parts(512, 16, 256, 4) == 1  # rows: threads over rows instead
    assert runtime.split_parts(512, 4, 256, 4) == 1  # one thread reuses W_hh over the rows
    assert runtime.split_parts(512, 1, 64, 4) == 1  # too few units for two parts
    assert runtime.split_parts(512, 1, 200, 4) == 1  # not whole panels of units
    monkeypatch.setattr(runtime.numba, "get_num_threads", lambda: 1)
    assert runtime.split_parts(512, 1, 256, 4) == 1


def test_units_cover_every_unit_once():
    for parts in (1, 2, 3, 5):
        for panels in (1, 2, 3, 8):
            got = [SK.units(p, parts, panels * 32, 32) for p in range(parts)]
            assert got[0][0] == 0 and got[-1][1] == panels * 32
            assert all(a[1] == b[0] for a, b in zip(got, got[1:], strict=False))
