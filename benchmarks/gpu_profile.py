"""Where a population's training step goes on CUDA (issue 14: the auto-sized population against
the fp32 matmul limit). Run by `benchmarks/gpu_check.sh device`, one section per process so that
a section cut at its time limit does not take the others with it:

  ab       the engine itself, per model-epoch at the auto size (MNIST 784-256-256-10, batch 256,
           SGD, as part 9, bench.epoch_seconds): this code against the previous epoch-order and
           evaluation settings
  step     one step's parts, timed apart on stand-alone tensors (the same shapes): the matmuls
           alone, forward, forward + backward, the whole step; then variants of the step
           (weights stored [K, out, in], bmm then add, the output layer padded to 16, tf32,
           a CUDA graph)
  gemm     each batched matmul of the step in each operand layout, TFLOP/s
  profile  torch.profiler over one epoch of the engine: kernels by CUDA time
  studies  part 9's end-to-end rows (bench._gpu_studies)

Prints plain lines as it goes; without CUDA it says so and exits 0.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench  # noqa: E402  (puts the checkout on sys.path)
from pipeline import population  # noqa: E402
from pipeline.datasets import load  # noqa: E402
from pipeline.study import DatasetSpec  # noqa: E402
from pipeline.train import TrialConfig  # noqa: E402

SIZES = (784, 256, 256, 10)
BATCH = 256
BASE = dict(arm="none", hidden=SIZES[1:-1], dropout=(0.0, 0.0), optimizer="sgd", lr=0.1, batch_size=BATCH,
            device="cuda")


def say(*parts) -> None:
    print(*parts, flush=True)


def mnist():
    return load(DatasetSpec(name="mnist", root=str(bench.MNIST_ROOT), download=False, val_fraction=0.1), 0)


def limit_s(n_train: int) -> float:
    flops = 6 * sum(a * b for a, b in zip(SIZES[:-1], SIZES[1:])) * n_train
    return flops / bench._cuda_matmul_flops(tf32=False)


def auto_k(data) -> int:
    return min(population.cuda_fit(TrialConfig(seed=0, **BASE), data, torch.device("cuda")), 256)


def cuda_ms(fn, repeats: int = 20, warm: int = 3) -> float:
    for _ in range(warm):
        fn()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    torch.cuda.synchronize()
    start.record()
    for _ in range(repeats):
        fn()
    end.record()
    torch.cuda.synchronize()
    return start.elapsed_time(end) / repeats


# --- ab: the engine, this code against the previous settings -------------------------------------

def _previous_settings():
    """Undo this session's changes where they are settings: the order drawn at the epoch's start,
    32 MB evaluation blocks. (The output padding is not undone: `step` measures it.)"""
    saved = population.EVAL_ELEMENTS_CUDA, population._PopulationRun._epoch_order

    def synchronous(run):
        return torch.stack([torch.randperm(run.n, generator=g) for g in run.g_order]).to(run.device)
    population.EVAL_ELEMENTS_CUDA = population.EVAL_ELEMENTS
    population._PopulationRun._epoch_order = synchronous
    return saved


def _restore(saved) -> None:
    population.EVAL_ELEMENTS_CUDA, population._PopulationRun._epoch_order = saved


def section_ab(repeats: int) -> None:
    data = mnist()
    k, limit = auto_k(data), limit_s(len(data.x_train))
    say(f"ab: K={k}, fp32 limit {limit:.5f} s/model-epoch")

    def per_model_epoch(previous: bool, precision: str = "fp32") -> float:
        saved = _previous_settings() if previous else None
        try:
            return bench.epoch_seconds([TrialConfig(seed=s, precision=precision, **BASE) for s in range(k)], data,
                                       epochs=2 + 2 * repeats) / k
        finally:
            if saved:
                _restore(saved)

    per_model_epoch(False)   # cuBLAS and the allocator warmed before either side is timed

    for label, previous in (("previous settings", True), ("this code", False)):
        t = per_model_epoch(previous)
        say(f"ab: {label}: {t:.5f} s/model-epoch = {t / limit:.2f}x the fp32 limit")
    t = per_model_epoch(False, "tf32")
    say(f"ab: this code, tf32: {t:.5f} s/model-epoch = {t / limit:.2f}x the fp32 limit")
    forward = population.Population.forward
    population.Population.forward = _forward_bmm_add
    try:
        t = per_model_epoch(False)
    finally:
        population.Population.forward = forward
    say(f"ab: this code, forward as bmm then add_: {t:.5f} s/model-epoch = {t / limit:.2f}x the fp32 limit")


def _forward_bmm_add(self, x, masks=None):
    """Population.forward with torch.bmm(h, w).add_(b) for baddbmm(b, h, w)."""
    h, last = x, len(self.W) - 1
    for layer, (w, b) in enumerate(zip(self.W, self.B)):
        h = torch.bmm(h, w).add_(b)
        if layer < last:
            h = self.act(h)
            if masks is not None and masks[layer] is not None:
                h = h * masks[layer]
    return h[..., :self.n_out]


# --- step: one step's parts and variants ----------------------------------------------------------

class Step:
    """One SGD step of K stacked MLPs on stand-alone tensors, the engine's operations."""

    def __init__(self, k: int, x_tr: torch.Tensor, y_tr: torch.Tensor, *, transposed=False, pad=False,
                 bmm_add=False):
        self.k, self.x_tr, self.y_tr, self.transposed, self.bmm_add = k, x_tr, y_tr, transposed, bmm_add
        dims = [*SIZES[:-1], 16 if pad else SIZES[-1]]
        g = torch.Generator(device="cuda").manual_seed(0)
        self.W = [((torch.rand((k, b, a) if transposed else (k, a, b), device="cuda", generator=g) * 2 - 1)
                   / a ** 0.5).requires_grad_() for a, b in zip(dims[:-1], dims[1:])]
        self.B = [torch.zeros(k, 1, b, device="cuda", requires_grad=True) for b in dims[1:]]
        self.params = self.W + self.B
        self.opt = population.StackedSGD(self.params, lr=0.1, momentum=0.0)   # the engine's update
        self.steps = 64
        self.idx = torch.randint(len(x_tr), (self.steps, k, BATCH), device="cuda")
        self.i = 0

    def batch(self):
        self.i = (self.i + 1) % self.steps
        order = self.idx[self.i]
        return self.x_tr[order], self.y_tr[order]

    def forward(self, x):
        h = x
        for layer, (w, b) in enumerate(zip(self.W, self.B)):
            w = w.transpose(1, 2) if self.transposed else w
            h = torch.bmm(h, w).add_(b) if self.bmm_add else torch.baddbmm(b, h, w)
            if layer < len(self.W) - 1:
                h = torch.relu_(h)
        return h[..., :SIZES[-1]]

    def loss(self, x, y):
        out = self.forward(x)
        k, m = y.shape
        return torch.nn.functional.cross_entropy(out.reshape(k * m, -1), y.reshape(-1), reduction="none").view(k, m).mean(1)

    def matmuls_only(self):
        """The step's seven batched matmuls with no elementwise work: forward 3, grad W 3, grad h 2
        (no grad for the input)."""
        with torch.no_grad():
            x, _ = self.batch()
            hs, h = [x], x
            for w in self.W:
                h = torch.bmm(h, w.transpose(1, 2) if self.transposed else w)
                hs.append(h)
            g = hs[-1]
            for layer in reversed(range(len(self.W))):
                w = self.W[layer].transpose(1, 2) if self.transposed else self.W[layer]
                torch.bmm(hs[layer].transpose(1, 2), g)          # grad W
                if layer:
                    g = torch.bmm(g, w.transpose(1, 2))          # grad h

    def forward_only(self):
        with torch.no_grad():
            self.loss(*self.batch())

    def forward_backward(self):
        self._gradients(*self.batch())

    def full(self):
        self._train(*self.batch())

    def _gradients(self, x, y):
        self.opt.zero_grad()
        self.loss(x, y).sum().backward()

    def _train(self, x, y):
        self._gradients(x, y)
        self.opt.step()

    def graphed(self):
        """full() captured once as a CUDA graph (static batch indices), replayed."""
        x_static, y_static = self.batch()
        s = torch.cuda.Stream()
        s.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(s):
            for _ in range(3):
                self._train(x_static, y_static)
        torch.cuda.current_stream().wait_stream(s)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            self._train(x_static, y_static)
        return graph.replay



def section_step() -> None:
    data = mnist()
    k, limit = auto_k(data), limit_s(len(data.x_train))
    steps_per_epoch = -(-len(data.x_train) // BATCH)
    x_tr, y_tr = data.x_train.cuda(), data.y_train.cuda()
    ideal_ms = limit * k / steps_per_epoch * 1e3
    say(f"step: K={k}, {steps_per_epoch} steps an epoch; at the fp32 limit a step takes {ideal_ms:.3f} ms")

    def show(label, ms):
        say(f"step: {label}: {ms:.3f} ms = {ms / ideal_ms:.2f}x the limit's step")

    s = Step(k, x_tr, y_tr)
    show("gather only", cuda_ms(lambda: s.batch()))
    order = torch.stack([torch.randperm(len(x_tr), device="cuda") for _ in range(k)])
    show("gather, a column slice of a [K, n] order as index (before)", cuda_ms(lambda: x_tr[order[:, 256:512]]))
    show("gather, index_select of the same (the engine)", cuda_ms(lambda: population._rows(x_tr, order[:, 256:512])))
    show("matmuls only (7 bmm)", cuda_ms(s.matmuls_only))
    show("forward + loss", cuda_ms(s.forward_only))
    show("forward + backward", cuda_ms(s.forward_backward))
    show("whole step (as the engine)", cuda_ms(s.full))
    for label, kw in (("weights [K, out, in]", dict(transposed=True)), ("bmm then add_", dict(bmm_add=True)),
                      ("output padded to 16 (before)", dict(pad=True))):
        v = Step(k, x_tr, y_tr, **kw)
        show(f"whole step, {label}", cuda_ms(v.full))
        show(f"matmuls only, {label}", cuda_ms(v.matmuls_only))
        del v
    torch.backends.cuda.matmul.allow_tf32 = True
    show("whole step, tf32", cuda_ms(s.full))
    torch.backends.cuda.matmul.allow_tf32 = False
    try:
        show("whole step, one CUDA graph", cuda_ms(s.graphed()))
    except Exception as e:  # noqa: BLE001 (a diagnostic: say why and go on)
        say(f"step: CUDA graph failed: {type(e).__name__}: {str(e)[:200]}")
    for kk in (64, 128, 512):
        v = Step(kk, x_tr, y_tr)
        ms = cuda_ms(v.full, repeats=10)
        say(f"step: K={kk} whole step {ms:.3f} ms = {ms / (limit * kk / steps_per_epoch * 1e3):.2f}x the limit's step")
        del v


# --- gemm: each batched matmul in each layout ----------------------------------------------------

def section_gemm() -> None:
    k = 256
    shapes = [("fwd L1", BATCH, 784, 256), ("fwd L2", BATCH, 256, 256), ("fwd L3", BATCH, 256, 10),
              ("gradW L1", 784, BATCH, 256), ("gradW L2", 256, BATCH, 256), ("gradW L3", 256, BATCH, 10),
              ("gradh L2", BATCH, 10, 256), ("gradh L1", BATCH, 256, 256)]
    for name, m, kd, n in shapes:
        rates = []
        for ta in (False, True):
            for tb in (False, True):
                a = torch.randn(k, kd, m, device="cuda").transpose(1, 2) if ta else torch.randn(k, m, kd, device="cuda")
                b = torch.randn(k, n, kd, device="cuda").transpose(1, 2) if tb else torch.randn(k, kd, n, device="cuda")
                ms = cuda_ms(lambda: torch.bmm(a, b))
                rates.append(f"{'T' if ta else 'N'}{'T' if tb else 'N'} {2 * k * m * kd * n / ms / 1e9:.1f}")
        flat_a, flat_b = torch.randn(k * m, kd, device="cuda"), torch.randn(kd, n, device="cuda")
        ms = cuda_ms(lambda: flat_a @ flat_b)
        say(f"gemm: {name} [{k}, {m}, {kd}] x [{k}, {kd}, {n}], TFLOP/s by layout: {', '.join(rates)};"
            f" one 2-D [{k * m}, {kd}] x [{kd}, {n}]: {2 * k * m * kd * n / ms / 1e9:.1f}")


# --- profile: kernels of one epoch ---------------------------------------------------------------

def section_profile() -> None:
    from torch.profiler import ProfilerActivity, profile

    data = mnist()
    k = auto_k(data)
    cfgs = [TrialConfig(seed=s, epochs=3, **BASE) for s in range(k)]
    dev = torch.device("cuda")
    run = population._PopulationRun(cfgs, data, dev)
    try:
        run.end_epoch(1, *run.train_epoch())   # warm
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        out = run.train_epoch()
        torch.cuda.synchronize()
        t1 = time.perf_counter()
        run.end_epoch(2, *out)
        t2 = time.perf_counter()
        say(f"profile: K={k}: train_epoch {t1 - t0:.3f} s, end_epoch (validation, history) {t2 - t1:.3f} s")
        with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
            run.end_epoch(3, *run.train_epoch())
            torch.cuda.synchronize()
    finally:
        run.stop_drawing()
    say(prof.key_averages().table(sort_by="cuda_time_total", row_limit=25, max_name_column_width=60))
    say(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=12, max_name_column_width=60))


def section_studies() -> None:
    """Part 9's studies one by one, each with its wall time and where the time went (the root
    run's time_* metrics), printed as each ends."""
    import subprocess
    import tempfile

    import yaml

    mnist_study = yaml.safe_load((bench.ROOT / "studies/mnist.yaml").read_text())
    for d in mnist_study["datasets"]:
        d.update(root=str(bench.MNIST_ROOT), download=False)
    tuned = yaml.safe_load((bench.ROOT / "studies/tuned.yaml").read_text())
    runs = [("mnist.yaml, cuda, population_size auto", {**mnist_study, "execution": {"device": "cuda"}}),
            ("mnist.yaml, cuda, population_size 10", {**mnist_study, "execution": {"device": "cuda", "population_size": 10}}),
            ("tuned.yaml, cuda", {**tuned, "execution": {"device": "cuda"}}),
            ("tuned.yaml, cpu", {**tuned, "execution": {"device": "cpu"}})]
    for label, study in runs:
        with tempfile.TemporaryDirectory() as tmp:
            tmp = Path(tmp)
            (tmp / "s.yaml").write_text(yaml.safe_dump(study))
            env = {**bench.os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp / 'mlflow.db'}",
                   "PYTHONPATH": bench._pythonpath(bench.ROOT)}
            t = time.perf_counter()
            proc = subprocess.run([sys.executable, "-m", "pipeline", "ablation", "--study", "s.yaml", "--no-report"],
                                  cwd=tmp, env=env, capture_output=True, text=True)
            wall = time.perf_counter() - t
            if proc.returncode:
                say(f"studies: {label}: exit {proc.returncode}: {proc.stderr[-1500:]}")
                continue
            times = bench.study_times(env["MLFLOW_TRACKING_URI"])
            say(f"studies: {label}: wall {wall:.1f} s; " + ", ".join(f"{k} {v:.1f}" for k, v in sorted(times.items())))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("section", choices=["ab", "step", "gemm", "profile", "studies"])
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args()
    if not torch.cuda.is_available():
        say(f"{args.section}: no CUDA device here; skipped")
        return
    torch.backends.cuda.matmul.allow_tf32 = False
    t0 = time.perf_counter()
    {"ab": lambda: section_ab(args.repeats), "step": section_step, "gemm": section_gemm,
     "profile": section_profile, "studies": section_studies}[args.section]()
    say(f"{args.section}: done in {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
