"""The chunked FFTW filter (optics._fftw), its byte-bounded workspace cache, the FFTW wisdom
kept across processes (optics._wisdom), and FreeSpace's per-call validation.

No timing thresholds here; speed is measured in bench/ (docs/performance.md).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from optics import Field, FreeSpace, Grid, SamplingError, SamplingWarning, _fft

pytestmark = pytest.mark.skipif(not _fft.is_available("pyfftw")[0], reason="pyfftw not installed")

from optics import _fftw, _wisdom  # noqa: E402  (imports pyfftw lazily; the module itself is plain)

ROOT = Path(__file__).resolve().parents[2]
LAM, PITCH = 0.75e-3, 0.4e-3


def _rand(shape, dtype=torch.complex128, seed=0):
    return torch.randn(shape, dtype=dtype, generator=torch.Generator().manual_seed(seed))


def _values_and_grads(backend, x, h, threads=None):
    xl, hl = x.clone().requires_grad_(True), h.clone().requires_grad_(True)
    out = _fft.filter2(xl, hl, backend=backend, threads=threads)
    (out * _rand(out.shape, out.dtype, seed=9).conj()).real.sum().backward()
    return out.detach(), xl.grad, hl.grad


@pytest.fixture
def fresh_cache(monkeypatch):
    monkeypatch.setattr(_fftw, "_CACHE", {})
    return _fftw._CACHE


@pytest.mark.parametrize("chunk", [1, 3])
def test_batch_above_the_workspace_bound_matches_torch(monkeypatch, fresh_cache, chunk):
    """A workspace bound smaller than one field: the batch runs field by field on a workspace
    used once; with 3-field chunks a batch of 7 ends on a partial chunk. Values and both
    gradients equal the torch.fft filter."""
    monkeypatch.setattr(_fftw, "CHUNK_FIELDS", chunk)
    x, h = _rand((7, 10, 9)), _rand((20, 18), seed=1)
    if chunk == 1:
        monkeypatch.setenv(_fftw.LIMIT_ENV, "0.001")  # 1 kB: below one field's workspace
    ref = _values_and_grads("torch", x, h)
    got = _values_and_grads("pyfftw", x, h)
    for a, b in zip(got, ref):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10)
    if chunk == 1:
        assert fresh_cache == {}  # too big for the bound: not kept
    else:
        # one workspace of 3 fields per parallel lane (one lane per thread)
        chunks = [ws.chunk for ws in fresh_cache.values()]
        assert set(chunks) == {3} and 1 <= len(chunks) <= max(1, torch.get_num_threads())


def test_batch_shape_and_complex64(fresh_cache):
    x, h = _rand((2, 3, 8, 6), torch.complex64), _rand((16, 12), torch.complex64, seed=1)
    ref = _values_and_grads("torch", x, h)
    got = _values_and_grads("pyfftw", x, h)
    for a, b in zip(got, ref):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)
    y = _fft.filter2(x, h, backend="pyfftw")
    assert y.shape == x.shape and y.dtype == torch.complex64


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_plans_do_not_depend_on_the_batch_size(fresh_cache, threads):
    h = _rand((16, 16), seed=1)
    for b in range(1, _fftw.LANE_MIN_CHUNKS * threads + 1):
        _fft.filter2(_rand((b, 8, 8), seed=b), h, backend="pyfftw", threads=threads)
    keys = set(fresh_cache)
    assert len(keys) == (1 if threads == 1 else 1 + threads)  # one lane of `threads`, `threads` lanes of one
    for b in (5, 31, 33, 50):
        _fft.filter2(_rand((b, 8, 8), seed=b), h, backend="pyfftw", threads=threads)
    assert set(fresh_cache) == keys


def test_parallel_lanes_match_torch_with_a_spectrum_check(fresh_cache):
    """Chunks spread over 3 lanes (threads): values, gradients, and a check that sees every
    chunk's spectrum once (its sum over the lanes equals the whole batch's)."""
    batch = 3 * _fftw.LANE_MIN_CHUNKS + 1
    x, h = _rand((batch, 10, 9)), _rand((20, 18), seed=1)
    assert _fftw.lanes(3, batch) == 3
    ref = _values_and_grads("torch", x, h)
    got = _values_and_grads("pyfftw", x, h, threads=3)
    for a, b in zip(got, ref):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10)
    seen = []
    _fft.filter2(x, h, backend="pyfftw", threads=3, spectrum_check=lambda s: seen.append(s.abs().square().sum()))
    total = torch.fft.fft2(x, s=(20, 18)).abs().square().sum()
    assert len(seen) == batch
    torch.testing.assert_close(sum(seen), total)


def test_workspace_cache_is_an_lru_bounded_in_bytes(monkeypatch, fresh_cache):
    one = 2 * 32 * 32 * 16  # pad + spec of one (32, 32) complex128 field
    monkeypatch.setenv(_fftw.LIMIT_ENV, str(2.5 * one / (1 << 20)))  # room for two
    assert _fftw.workspace_limit() == int(2.5 * one)
    h = _rand((32, 32), seed=1)
    for n in (8, 9, 10):  # three shapes, one workspace each
        x = _rand((2, n, n), seed=n)
        torch.testing.assert_close(_fft.filter2(x, h, backend="pyfftw", threads=1),
                                   _fft.filter2(x, h, backend="torch"))
        assert _fftw.cached_bytes() <= _fftw.workspace_limit()
    assert [k[0] for k in fresh_cache] == [(9, 9), (10, 10)]  # the least recently used went first
    _fft.filter2(_rand((1, 9, 9)), h, backend="pyfftw", threads=1)  # a hit moves it to the end
    assert [k[0] for k in fresh_cache] == [(10, 10), (9, 9)]
    _fftw.release()
    assert _fftw.cached_bytes() == 0


def test_workspace_limit_default_and_bad_values(monkeypatch):
    monkeypatch.delenv(_fftw.LIMIT_ENV, raising=False)
    assert 0 < _fftw.workspace_limit() <= 1 << 30
    monkeypatch.setenv(_fftw.LIMIT_ENV, "lots")
    with pytest.raises(ValueError, match="ONNSIM_FFT_WORKSPACE_MB.*MiB"):
        _fftw.workspace_limit()


def test_cache_dir_is_read_at_call_time(monkeypatch, tmp_path):
    monkeypatch.setenv(_wisdom.CACHE_ENV, str(tmp_path / "a"))
    assert _wisdom.cache_dir() == tmp_path / "a"
    monkeypatch.delenv(_wisdom.CACHE_ENV)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert _wisdom.cache_dir() == tmp_path / "xdg" / "onnsim"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert _wisdom.cache_dir() == Path.home() / ".cache" / "onnsim"


_PLAN_FROM_WISDOM_ONLY = """
import torch
from optics import _fftw, _wisdom
print("loaded", _wisdom.load())
try:
    _fftw.Workspace((24, 20), (48, 40), "complex64", 1, 1, flags=("FFTW_MEASURE", "FFTW_WISDOM_ONLY"))
    print("planned from wisdom")
except RuntimeError:
    print("no wisdom")
"""


def _python(code, cache):
    env = {**os.environ, _wisdom.CACHE_ENV: str(cache)}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_wisdom_round_trip_across_processes(tmp_path):
    cache = tmp_path / "cache"
    assert "no wisdom" in _python(_PLAN_FROM_WISDOM_ONLY, cache)  # nothing stored yet
    _python("import torch\nfrom optics import _fftw\n_fftw.warm_up((24, 20), (48, 40), torch.complex64, 1)",
            cache)
    files = list((cache / "fftw").glob("*.json"))
    assert len(files) == 1 and json.loads(files[0].read_text())["format"] == 1
    out = _python(_PLAN_FROM_WISDOM_ONLY, cache)
    assert "loaded True" in out and "planned from wisdom" in out


def test_unreadable_or_unwritable_wisdom_is_a_warning(monkeypatch, tmp_path):
    monkeypatch.setenv(_wisdom.CACHE_ENV, str(tmp_path))
    path = _wisdom.wisdom_path()
    path.parent.mkdir(parents=True)
    path.write_text("{not json")
    with pytest.warns(RuntimeWarning, match="not loaded"):
        assert _wisdom.load() is False
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv(_wisdom.CACHE_ENV, str(blocker))  # a file where the directory should be
    with pytest.warns(RuntimeWarning, match="not saved"):
        assert _wisdom.save() is False


def test_freespace_warm_up_plans_ahead(fresh_cache):
    layer = FreeSpace(Grid(12, PITCH), LAM, 0.01)
    assert layer.warm_up(threads=2) >= 0.0
    assert {k[:2] for k in fresh_cache} == {((12, 12), (24, 24))}
    assert {k[3] for k in fresh_cache} == {1, 2}  # FFTW threads: a single field, and lanes
    assert FreeSpace(Grid(12, PITCH), LAM, 0.01, fft_backend="torch").warm_up() == 0.0


# --------------------------------------------------------------------------------------
# FreeSpace validation (per call, no full-field scans)
# --------------------------------------------------------------------------------------
@pytest.mark.filterwarnings("ignore::optics.SamplingWarning")
@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
@pytest.mark.parametrize("fft_backend", ["auto", "torch", "pyfftw"])
def test_freespace_rejects_non_finite_input_by_default(bad, fft_backend):
    grid = Grid(16, PITCH)
    layer = FreeSpace(grid, LAM, 0.005, fft_backend=fft_backend)
    data = _rand((3, 16, 16), torch.complex64)
    layer(Field(data, grid, LAM))  # fine
    data[1, 9, 4] = bad
    with pytest.raises(ValueError, match="1 NaN or infinite"):
        layer(Field(data, grid, LAM))
    out = FreeSpace(grid, LAM, 0.005, fft_backend=fft_backend, validate=False)(Field(data, grid, LAM))
    assert not torch.isfinite(out.data[1]).any()  # not checked: the NaN spreads over that field
    assert torch.isfinite(out.data[[0, 2]]).all()


def test_freespace_finite_check_tells_overflow_from_bad_input():
    grid = Grid(8, PITCH)
    data = torch.full((8, 8), 3e38, dtype=torch.complex64)  # finite, but its spectrum overflows
    out = FreeSpace(grid, LAM, 0.001, fft_backend="torch")(Field(data, grid, LAM))
    assert out.data.shape == (8, 8)


def test_freespace_band_loss_checked_when_validating():
    grid = Grid(64, 0.5e-6)
    yy, xx = grid.meshgrid()
    u = torch.exp(-(xx**2 + yy**2) / (0.6e-6) ** 2).to(torch.complex128)
    lam = 1e-6
    batch = torch.stack([u, u, u])  # batch chunks of the planned filter: the loss of all of them
    lost = FreeSpace(grid, lam, 200e-6, pad_factor=1, dtype=torch.complex128)
    for _ in range(2):  # an error on every call
        with pytest.raises(SamplingError, match=r"pad_factor = 1 < 2"):
            lost(Field(batch, grid, lam))
    FreeSpace(grid, lam, 200e-6, pad_factor=1, dtype=torch.complex128, validate=False)(Field(batch, grid, lam))
    with pytest.warns(SamplingWarning, match="leaves the"):
        FreeSpace(grid, 0.999 * lam, 200e-6, dtype=torch.complex128)(Field(batch, grid, 0.999 * lam))


def test_bad_validate_flag():
    with pytest.raises(ValueError, match="validate must be"):
        FreeSpace(Grid(8, PITCH), LAM, 0.001, validate="yes")


def _filter_in_child(queue, batch):
    # only the planned path runs in the child: torch's own OpenMP pool is not fork-safe (a
    # parallel torch op in a forked child can hang), so the reference is computed by the parent
    x, h = _rand((batch, 6, 6)), _rand((12, 12), seed=1)
    queue.put(_fft.filter2(x, h, backend="pyfftw", threads=2).numpy())


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
@pytest.mark.parametrize("batch", [2, 2 * _fftw.LANE_MIN_CHUNKS])
def test_planned_filter_works_in_a_forked_child(batch):
    """Neither the lanes' thread pool nor FFTW's OpenMP threads survive a fork: after the parent
    ran both (one lane of 2 FFTW threads for a small batch, two lanes for a large one), a child
    makes its own pool and plans single-threaded instead of hanging in libgomp."""
    import multiprocessing

    for b in (2, 2 * _fftw.LANE_MIN_CHUNKS):  # the parent's OpenMP threads and its lane pool
        _fft.filter2(_rand((b, 6, 6)), _rand((12, 12), seed=1), backend="pyfftw", threads=2)
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    child = ctx.Process(target=_filter_in_child, args=(queue, batch))
    child.start()
    try:
        got = torch.from_numpy(queue.get(timeout=120))
    finally:
        child.join(timeout=60)
        if child.is_alive():
            child.kill()
    ref = _fft.filter2(_rand((batch, 6, 6)), _rand((12, 12), seed=1), backend="torch")
    assert child.exitcode == 0 and float((got - ref).abs().max()) < 1e-10


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_small_batches_run_on_one_lane_of_all_threads(fresh_cache, threads):
    """Lanes only from LANE_MIN_CHUNKS chunks per lane: smaller batches run on one lane whose
    FFTW plans use every thread; the values are the same either way."""
    h = _rand((16, 16), seed=1)
    for b in [*range(1, 4 * threads + 1), _fftw.LANE_MIN_CHUNKS * threads, _fftw.LANE_MIN_CHUNKS * threads + 3]:
        _fftw.release()
        x = _rand((b, 8, 8), seed=b)
        torch.testing.assert_close(_fft.filter2(x, h, backend="pyfftw", threads=threads),
                                   _fft.filter2(x, h, backend="torch"), rtol=1e-10, atol=1e-10)
        want = _fftw.lanes(threads, b)
        assert want == max(1, min(threads, b // _fftw.LANE_MIN_CHUNKS))
        assert sorted(k[5] for k in fresh_cache) == list(range(want))
        assert {k[3] for k in fresh_cache} == {threads if want == 1 else 1}


def test_no_grad_call_matches_the_autograd_call(fresh_cache):
    """Without a gradient to track the filter skips its autograd node: the same numbers."""
    x, h = _rand((3, 10, 9)), _rand((20, 18), seed=1)
    tracked = _fft.filter2(x.clone().requires_grad_(True), h, backend="pyfftw")
    with torch.no_grad():
        plain = _fft.filter2(x, h, backend="pyfftw")
    assert tracked.requires_grad and not plain.requires_grad
    assert torch.equal(tracked.detach(), plain)


def test_backward_reuses_conj_of_an_unchanged_transfer_function(fresh_cache):
    """conj(h) is kept for the next backward only while h is the same, unmodified tensor."""
    x, h = _rand((2, 10, 9)), _rand((20, 18), seed=1)

    def grad():
        xl = x.clone().requires_grad_(True)
        (_fft.filter2(xl, h, backend="pyfftw") * _rand((2, 10, 9), seed=9).conj()).real.sum().backward()
        return xl.grad

    first = grad()
    torch.testing.assert_close(grad(), first, rtol=0, atol=0)
    ref = _values_and_grads("torch", x, h)[1]
    h.mul_(-1)  # modified in place: its conjugate is made again
    torch.testing.assert_close(grad(), -ref, rtol=1e-10, atol=1e-10)


def test_freespace_plans_at_construction_only_from_wisdom(fresh_cache, monkeypatch, tmp_path):
    """A new FreeSpace plans its filter at construction only when the wisdom already has the
    plans; otherwise it leaves planning to the first call, which measures and saves them."""
    monkeypatch.setenv(_wisdom.CACHE_ENV, str(tmp_path))
    monkeypatch.setattr(_wisdom, "_LOADED", set())
    grid = Grid(67, PITCH)  # an odd shape no other test plans
    layer = FreeSpace(grid, LAM, 0.01)
    assert fresh_cache == {}  # nothing known yet: nothing planned, no error
    layer.warm_up(threads=2)  # measures, saves the wisdom
    assert _wisdom.wisdom_path().exists()
    _fftw.release()
    FreeSpace(grid, LAM, 0.01)
    assert {k[:2] for k in fresh_cache} == {((67, 67), (134, 134))}  # planned from the wisdom
    _fftw.release()
    FreeSpace(grid, LAM, 0.01, fft_backend="torch")
    assert fresh_cache == {}


@pytest.mark.parametrize("threads", [1, 2])
def test_band_loss_check_sums_the_same_over_planned_chunks(fresh_cache, threads):
    """The band-loss check fed numpy chunks by the planned filter (spectra and, for the total
    power, the input fields) sums what it sums on the torch path's whole spectrum."""
    from optics.functional import _bandloss as bl

    grid, lam, z = Grid(24, 0.5e-6), 1e-6, 40e-6
    x = _rand((5, 24, 24))
    h = _rand((24, 24), seed=1)  # pad_factor 1: any filter of the padded size will do for the sums
    weights = bl.loss_weights(grid, lam, z, 1.0, 0.0, torch.device("cpu"))
    assert weights is not None
    checks = {}
    for backend in ("torch", "pyfftw"):
        checks[backend] = bl.LossCheck(weights, x, grid, lam, z, 1.0, tol=1.0)
        _fft.filter2(x, h, backend=backend, threads=threads, spectrum_check=checks[backend])
    torch.testing.assert_close(checks["pyfftw"].removed, checks["torch"].removed, rtol=1e-9, atol=0)
    assert checks["pyfftw"].power_fields == 5 and checks["torch"].power_fields == 0  # torch: total_power at finish
    torch.testing.assert_close(checks["pyfftw"].power, bl.total_power(x), rtol=1e-9, atol=0)
    for c in checks.values():
        c.finish()  # tol = 1: no error
