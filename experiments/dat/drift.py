"""dat-drift — direct deployment, PAT and DAT against a drifting device behind a socket.

The physical system is served by ``python -m hardware.serve`` (started here on a free
loopback port unless ``--device-address`` names a running server; a server's token is read
from the ONNSIM_DEVICE_TOKEN environment variable) and reached through
:class:`hardware.RemoteDevice`. Its MZI phases drift (a random walk per phase shifter, rate in
rad/√s; drift time = device queries × ``seconds_per_query``). Every arm starts from the same
device state (t = 0: counters, noise stream and drift reset through ``load_state_dict``),
trains (direct: numerically; PAT/DAT: against the device), then is *deployed*: rounds of
``round_queries`` device queries each — inference traffic, and for the recalibrating arms
their recalibration — followed by one test-set evaluation on the device. Every arm spends
the same number of queries per round, so the arms see the same drift at the same x.

Recalibration strategies (method suffixes; :mod:`training.recalibration` runs them):

* ``dat-adapt`` — DAT keeps adapting: ``adapt_steps`` :meth:`training.Trainer.step` calls per
  round on training images (the SEPNs and the PNN keep learning from measurements);
* ``pat-finetune`` — a scheduled PAT fine-tune of ``finetune_steps`` steps whenever
  ``finetune_every`` queries have passed since the last one;
* plain ``direct``, ``pat``, ``dat`` — trained once, never recalibrated.

"Static accuracy" of an arm is its first deployed evaluation (right after training).
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch

from hardware import RemoteDevice, serve
from training import Deployment, TrainConfig, Trainer, deploy, evaluate, records
from training.records import markdown_table

from .._methods import parse_ints
from ..registry import register
from training.study import load_data, mesh_task

__all__ = ["DatDriftConfig", "run", "STRATEGIES", "start_local_server"]

#: label -> (training method, recalibration)
STRATEGIES = {"direct": ("ideal", None), "pat": ("pat", None), "dat": ("dat", None),
              "pat-finetune": ("pat", "finetune"), "dat-adapt": ("dat", "adapt")}


@dataclass(frozen=True)
class DatDriftConfig:
    device_address: str = ""  # tcp://127.0.0.1:PORT of a running `python -m hardware.serve`; empty: start a local one
    dataset: str = "mnist"
    methods: str = "direct,pat,dat,pat-finetune,dat-adapt"
    """arms compared, comma-separated: direct, pat, dat, pat-finetune, dat-adapt"""
    modes: int = 16
    meshes: int = 2
    bs_sigma: float = 0.06  # local server: standard deviation of the static coupler splitting error e [dimensionless]
    ps_sigma: float = 0.06  # local server: standard deviation of the static phase-shifter offsets [rad]
    phase_random_walk_rad_per_sqrt_s: float = 0.007  # local server: random-walk drift rate of every phase [rad/√s]
    seconds_per_query: float = 1.0  # drift time that one device query stands for [s]
    drift_seed: int = 0  # local server: seed of the drift's random stream
    n_train: int = 2000
    n_test: int = 1000
    epochs: int = 4
    batch_size: int = 50
    learning_rate: float = 1e-2
    sepn_learning_rate: float = 1e-3
    dat_internal_states: bool = True  # DAT also measures the taps after each mesh
    sepn_features: str = "2,2,2"
    rounds: int = 30  # deployment rounds, each followed by one test-set evaluation on the device [count]
    round_queries: int = 20  # device queries per deployment round (inference and recalibration) [count]
    adapt_steps: int = 15  # dat-adapt: DAT steps on training images per round [count]
    adapt_learning_rate: float = 1e-2
    """dat-adapt: Adam learning rate of the mesh phases in recalibration steps [rad per step]"""
    finetune_every: int = 100  # pat-finetune: device queries between two fine-tunes [count]
    finetune_steps: int = 10  # pat-finetune: PAT steps per fine-tune [count]
    timeout_s: float = 60.0  # longest wait for one reply of the device before the request is retried [s]
    seed: int = 0
    error_seed: int = 1  # local server: seed of its static error realization

    def __post_init__(self):
        bad = [m for m in self.methods.split(",") if m.strip() not in STRATEGIES]
        if bad or not self.methods.strip():
            raise ValueError(f"unknown method(s) {bad} in {self.methods!r}; choose from {', '.join(STRATEGIES)}")
        parse_ints(self.sepn_features, "sepn_features", 3)
        if self.device_address and not self.device_address.startswith("tcp://"):
            raise ValueError(f"device_address must look like tcp://127.0.0.1:5555, got {self.device_address!r}")
        if not 0 < self.adapt_steps < self.round_queries or not 0 < self.finetune_steps < self.round_queries:
            raise ValueError("adapt_steps and finetune_steps must be in [1, round_queries)")


SCALES = {
    "smoke": dict(n_train=200, n_test=100, epochs=1, batch_size=50, rounds=3, round_queries=6, adapt_steps=2,
                  finetune_every=6, finetune_steps=2, methods="direct,dat,dat-adapt"),
    "cpu": dict(),
    "paper": dict(modes=64, meshes=3, n_train=20000, n_test=2000, epochs=10, batch_size=100, rounds=100),
}


def start_local_server(cfg: DatDriftConfig) -> tuple[subprocess.Popen, str]:
    """``python -m hardware.serve`` of ``cfg``'s device on a free loopback port; returns (process, address)."""
    return serve.start(["--port", 0, "--modes", cfg.modes, "--meshes", cfg.meshes, "--preset",
                        f"bs={cfg.bs_sigma},ps={cfg.ps_sigma}", "--error-seed", cfg.error_seed, "--model-seed", cfg.seed,
                        "--phase-random-walk", cfg.phase_random_walk_rad_per_sqrt_s, "--seconds-per-query",
                        cfg.seconds_per_query, "--drift-seed", cfg.drift_seed],
                       threads=os.environ.get("OMP_NUM_THREADS", "1"))


def _check_matches(device, task) -> None:
    own = {k: list(v.shape) for k, v in task.device_model.state_dict().items()}
    theirs = {k: v["shape"] for k, v in device.description.get("parameters", {}).items()}
    if device.family != "mesh" or own != theirs:
        raise ValueError(f"the device at {device.address} ({device.family}, {len(theirs)} parameters) does not "
                         f"match the task ({len(own)} parameters): serve --modes/--meshes like this run's")


def _arm(cfg, label, device, data, log) -> dict:
    method = STRATEGIES[label][0]
    device.load_state_dict(device.initial_state)  # every arm starts at t = 0
    task = mesh_task(modes=cfg.modes, meshes=cfg.meshes, seed=cfg.seed)
    _check_matches(device, task)
    tc = TrainConfig(method=method, epochs=cfg.epochs, batch_size=cfg.batch_size, lr=cfg.learning_rate,
                     sepn_lr=cfg.sepn_learning_rate, sepn_features=parse_ints(cfg.sepn_features, "sepn_features", 3),
                     lr_step_epochs=max(cfg.epochs, 1), seed=cfg.seed, eval_batch_size=max(cfg.n_test, 1),
                     internal_states=cfg.dat_internal_states and method == "dat")
    trainer = Trainer(task, tc, physical=device if method != "ideal" else None)
    t0 = time.perf_counter()
    x, y = data[0], data[1]
    fit = trainer.fit(x, y, progress=False)
    trainer.load_best()
    train_queries = device.queries
    # recalibration runs at the final learning rate, without a scheduler
    trainer.config = replace(tc, dat_warmup_epochs=0)
    plan = Deployment(rounds=cfg.rounds, round_queries=cfg.round_queries, strategy=STRATEGIES[label][1],
                      adapt_steps=cfg.adapt_steps, finetune_every=cfg.finetune_every,
                      finetune_steps=cfg.finetune_steps, learning_rate=cfg.adapt_learning_rate,
                      batch_size=cfg.batch_size, seed=cfg.seed + 4242)
    r = deploy(task, trainer, device, *data, plan, log=lambda s: log(f"[{label}] {s}"))
    numeric = evaluate(task, data[2], data[3])["accuracy"]
    r.update(method=method, train_queries=train_queries, best_val_accuracy=fit["best_val_accuracy"],
             numeric_accuracy=numeric, total_queries=device.queries, wall_time_s=time.perf_counter() - t0,
             reconnects=device.reconnects, resends=device.resends)
    return r


def _figure(results: dict, cfg, path: Path) -> Path:
    from training import figures  # the Agg backend, before pyplot

    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    for label, r in results.items():
        q = [c["queries"] for c in r["curve"]]
        ax.plot(q, [100 * c["accuracy"] for c in r["curve"]], marker=".", label=label)
    ax.set_xlabel(f"elapsed device queries (1 query = {cfg.seconds_per_query:g} s of drift)")
    ax.set_ylabel("test accuracy on the device (%)")
    ax.set_title("accuracy under phase drift")
    ax.grid(alpha=0.3)
    ax.legend()
    return figures.save(fig, path)


@register("dat-drift", "direct vs PAT vs DAT (with recalibration) against a drifting device over ZeroMQ",
          DatDriftConfig, runtime={"smoke": "30 s", "cpu": "10 min", "paper": "hours"}, scales=SCALES)
def run(cfg: DatDriftConfig, out_dir: Path, *, resume: bool = False) -> dict:
    records.write_config(out_dir / "config.json", "dat-drift", cfg, cfg.seed)
    torch.manual_seed(cfg.seed)
    data = load_data(cfg.dataset, cfg.n_train, cfg.n_test, cfg.seed)
    prog_path = out_dir / "progress.json"
    results = records.read_json(prog_path, what="progress record") if (resume and prog_path.exists()) else {}
    proc, address = (None, cfg.device_address) if cfg.device_address else start_local_server(cfg)
    try:
        # the token comes from the environment, never from the configuration (which the run record keeps)
        token = os.environ.get("ONNSIM_DEVICE_TOKEN") or None
        device = RemoteDevice(address, token=token, timeout_s=cfg.timeout_s)
        description = device.describe()
        for label in (m.strip() for m in cfg.methods.split(",")):
            if label in results:
                print(f"[{label}] already finished (resumed)")
                continue
            results[label] = _arm(cfg, label, device, data, lambda s: print(s, flush=True))
            records.atomic_json(prog_path, results, indent=1)
        device.close()
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
    return _record(cfg, out_dir, results, description, address)


def _record(cfg, out_dir: Path, results: dict, description: dict, address: str) -> dict:
    fig = _figure(results, cfg, out_dir / "figures" / "accuracy_vs_queries.png")
    summary = {k: {kk: v[kk] for kk in ("method", "static_accuracy", "final_accuracy", "late_accuracy", "min_accuracy",
                                        "numeric_accuracy", "train_queries", "recalibration_queries",
                                        "total_queries", "wall_time_s")} for k, v in results.items()}
    for v in summary.values():
        v["retained"] = v["late_accuracy"] / v["static_accuracy"] if v["static_accuracy"] else 0.0
        v["drop_points"] = 100 * (v["static_accuracy"] - v["late_accuracy"])
    datasets = {}
    for k, v in results.items():
        datasets[f"{k}/queries"] = ([c["queries"] for c in v["curve"]], "device queries (calls)")
        datasets[f"{k}/accuracy"] = ([c["accuracy"] for c in v["curve"]], "1 (fraction of the test set)")
    records.write_results(out_dir / "results.h5", attrs={"experiment": "dat-drift", "seed": cfg.seed,
                                                         "config": asdict(cfg), "versions": records.versions(),
                                                         "summary": summary, "device": description}, datasets=datasets)
    records.atomic_torch_save({"summary": summary}, out_dir / "model.pt")
    records.atomic_json(out_dir / "summary.json", summary, indent=2)
    table = markdown_table(
        ["arm", "method", "static (%)", "late (%)", "final (%)", "minimum (%)", "late / static (%)", "drop (points)",
         "training queries", "recalibration queries", "total queries"],
        [[k, v["method"], *(f"{100 * v[f'{q}_accuracy']:.1f}" for q in ("static", "late", "final", "min")),
          f"{100 * v['retained']:.0f}", f"{v['drop_points']:.1f}", v["train_queries"], v["recalibration_queries"],
          v["total_queries"]] for k, v in summary.items()])
    drift = description.get("drifts", [])
    verdict = []
    if "direct" in summary:
        d = summary["direct"]["drop_points"]
        verdict.append(f"direct deployment lost {d:.1f} points to the drift ({'≥' if d >= 10 else '<'} 10)")
    for k in ("dat-adapt", "pat-finetune"):
        if k in summary:
            r = 100 * summary[k]["retained"]
            verdict.append(f"{k} kept {r:.0f}% of its static accuracy ({'≥' if r >= 90 else '<'} 90%)")
    text = f"""# dat-drift: training against a drifting device over ZeroMQ

Device: {address} — {description.get('family')} ({len(description.get('parameters', {}))} parameter tensors),
drift {json.dumps(drift)}, clock {description.get('clock', '?')}, {description.get('seconds_per_query', '?')} s per
query. {cfg.n_train} training images ({cfg.dataset}), {cfg.n_test} test images measured on the device after every
round of {cfg.round_queries} queries, {cfg.rounds} rounds.

{table}

"Static" is the first evaluation after training, "late" the mean of the last quarter of the rounds
(one evaluation of {cfg.n_test} images has a standard error of about
{100 * (0.25 / max(cfg.n_test, 1)) ** 0.5:.0f} points), "drop" = static − late. Every arm spends the
same queries per round, so the same x means the same drift.

In this run: {"; ".join(verdict) or "no direct or recalibrating arm"}.

## Figures

![accuracy vs elapsed queries](figures/{fig.name})
"""
    records.atomic_text(out_dir / "report.md", text)
    return summary
