#!/usr/bin/env python3
"""EvoPress's evaluation of a compression configuration, as the peer of evosearch's KL fitness.

A PyTorch forward pass of a GPT-2 model read from the same safetensors file, weights of the
configuration swapped in place from the same level database, and KL(dense || candidate) against
dense log-probabilities computed once per window, on the same windows. Run by
`npm run bench:peers` with Debian's python3-torch; reads a job file the benchmark writes and
prints one JSON line per measurement.
"""
import ctypes
import json
import math
import multiprocessing
import random
import statistics
import struct
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

DTYPES = {'F32': np.float32, 'F16': np.float16, 'U16': np.uint16}


def read_safetensors(path):
    with open(path, 'rb') as f:
        n = struct.unpack('<Q', f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    tensors = {}
    for name, info in header.items():
        if name == '__metadata__':
            continue
        start, end = info['data_offsets']
        array = np.frombuffer(data[start:end], dtype=DTYPES[info['dtype']]).reshape(info['shape'])
        tensors[name] = torch.from_numpy(array.astype(np.float32))
    return tensors


class Gpt2:
    """GPT-2 as Hugging Face writes it (Conv1D weights [in, out], tanh GELU, LM head tied to wte)."""

    def __init__(self, model_dir):
        with open(f'{model_dir}/config.json') as f:
            c = json.load(f)
        self.d, self.heads, self.layers, self.eps = c['n_embd'], c['n_head'], c['n_layer'], c.get('layer_norm_epsilon', 1e-5)
        self.w = {k[len('transformer.'):] if k.startswith('transformer.') else k: v for k, v in read_safetensors(f'{model_dir}/model.safetensors').items()}

    @torch.inference_mode()
    def logits(self, tokens, grams=None):
        """Logits [T, vocab]; with `grams`, adds XᵀX of every linear layer's input X to grams[weight name]."""
        def tap(x, name):
            if grams is not None:
                grams[name] = grams.get(name, 0) + x.T @ x
            return x

        w, d, H = self.w, self.d, self.heads
        T = tokens.shape[0]
        x = w['wte.weight'][tokens] + w['wpe.weight'][:T]
        mask = torch.full((T, T), float('-inf')).triu(1)
        for i in range(self.layers):
            p = f'h.{i}.'
            h = F.layer_norm(x, (d,), w[p + 'ln_1.weight'], w[p + 'ln_1.bias'], self.eps)
            q, k, v = torch.addmm(w[p + 'attn.c_attn.bias'], tap(h, p + 'attn.c_attn.weight'), w[p + 'attn.c_attn.weight']).split(d, dim=1)
            q, k, v = (t.view(T, H, d // H).transpose(0, 1) for t in (q, k, v))
            att = torch.softmax(q @ k.transpose(1, 2) / math.sqrt(d // H) + mask, dim=-1)
            a = (att @ v).transpose(0, 1).reshape(T, d)
            x = x + torch.addmm(w[p + 'attn.c_proj.bias'], tap(a, p + 'attn.c_proj.weight'), w[p + 'attn.c_proj.weight'])
            h2 = F.layer_norm(x, (d,), w[p + 'ln_2.weight'], w[p + 'ln_2.bias'], self.eps)
            f = F.gelu(torch.addmm(w[p + 'mlp.c_fc.bias'], tap(h2, p + 'mlp.c_fc.weight'), w[p + 'mlp.c_fc.weight']), approximate='tanh')
            x = x + torch.addmm(w[p + 'mlp.c_proj.bias'], tap(f, p + 'mlp.c_proj.weight'), w[p + 'mlp.c_proj.weight'])
        return F.layer_norm(x, (d,), w['ln_f.weight'], w['ln_f.bias'], self.eps) @ w['wte.weight'].T


class Database:
    """A level database: each unit's levels, read from its file once, swapped into the model in place."""

    def __init__(self, db_dir, model):
        with open(f'{db_dir}/manifest.json') as f:
            self.units = json.load(f)['units']
        self.dir, self.model = db_dir, model
        self.dense = {name: model.w[name].clone() for u in self.units for name in u['weights']}
        self.files = {}
        self.current = [-1] * len(self.units)

    def level(self, unit, level, name):
        u = self.units[unit]
        kind = u['levels'][level]['tensors']
        if kind == 'dense':
            return self.dense[name]
        if kind == 'zero':
            return torch.zeros_like(self.dense[name])
        if unit not in self.files:
            self.files[unit] = read_safetensors(f"{self.dir}/{u['file']}")
        return self.files[unit][f'level.{level}'].view_as(self.dense[name])

    def stitch(self, genome):
        for i, level in enumerate(genome):
            if self.current[i] == level:
                continue
            for name in self.units[i]['weights']:
                self.model.w[name].copy_(self.dense[name] if level < 0 else self.level(i, level, name))
            self.current[i] = level


def sparsegpt(W, U, count, blocksize=128):
    """SparseGPT (Frantar and Alistarh, 2023) with lazy block updates, as in its reference code:
    W [rows, cols], U the upper Cholesky factor of the damped inverse Hessian; prunes exactly
    `count` weights, spread over the column blocks as evosearch spreads them."""
    W = W.clone()
    rows, cols = W.shape
    for i1 in range(0, cols, blocksize):
        i2 = min(i1 + blocksize, cols)
        k = round(count * i2 / cols) - round(count * i1 / cols)
        W1 = W[:, i1:i2].clone()
        Err1 = torch.zeros_like(W1)
        U1 = U[i1:i2, i1:i2]
        mask = torch.zeros_like(W1, dtype=torch.bool)
        if k > 0:
            saliency = (W1 / torch.diag(U1).reshape(1, -1)) ** 2
            mask.view(-1)[torch.topk(saliency.flatten(), k, largest=False).indices] = True
        for i in range(i2 - i1):
            w = W1[:, i]
            q = w.masked_fill(mask[:, i], 0)
            err = (w - q) / U1[i, i]
            W1[:, i:] -= err.unsqueeze(1) @ U1[i, i:].unsqueeze(0)
            Err1[:, i] = err
        W[:, i1:i2] = W1.masked_fill(mask, 0)
        W[:, i2:] -= Err1 @ U[i1:i2, i2:]
    return W


def gptq(W, U, bits, group, blocksize=128):
    """GPTQ (Frantar et al., 2022) with groups, no activation order and lazy block updates, as in
    its reference code, each group's grid fitted on its compensated weights as evosearch fits it."""
    W = W.clone()
    rows, cols = W.shape
    maxq = 2 ** bits - 1
    blocksize = group if group >= blocksize else group * (blocksize // group)
    for i1 in range(0, cols, blocksize):
        i2 = min(i1 + blocksize, cols)
        W1 = W[:, i1:i2].clone()
        Err1 = torch.zeros_like(W1)
        U1 = U[i1:i2, i1:i2]
        for i in range(i2 - i1):
            if (i1 + i) % group == 0:
                g = W1[:, i:i + group]
                lo = torch.clamp(g.min(dim=1).values, max=0)
                hi = torch.clamp(g.max(dim=1).values, min=0)
                flat = hi == lo
                scale = torch.where(flat, torch.ones_like(hi), (hi - lo) / maxq)
                zero = torch.where(flat, torch.zeros_like(hi), torch.round(-lo / scale))
            w = W1[:, i]
            q = (torch.clamp(torch.round(w / scale) + zero, 0, maxq) - zero) * scale
            err = (w - q) / U1[i, i]
            W1[:, i] = q
            W1[:, i + 1:] -= err.unsqueeze(1) @ U1[i, i + 1:].unsqueeze(0)
            Err1[:, i] = err
        W[:, i1:i2] = W1
        W[:, i2:] -= Err1 @ U[i1:i2, i2:]
    return W


def build_database(model, manifest, windows, T, damping, out_dir):
    """The level database a manifest describes (SparseGPT sparsities or GPTQ bit-widths): Hessians
    XᵀX from the calibration windows, then every level of every layer, written as raw float32
    files. Returns seconds."""
    start = time.perf_counter()
    compression = manifest['compression']
    grams = {}
    for x in windows:
        model.logits(torch.from_numpy(x[:T].copy()), grams)
    with torch.inference_mode():
        for u in manifest['units']:
            name = u['weights'][0]
            W = model.w[name].T.contiguous().double()  # Conv1D [in, out] → [out, in]
            H = grams[name].double().clone()
            dead = torch.diag(H) == 0
            H[dead, dead] = 1
            H += damping * torch.mean(torch.diag(H)) * torch.eye(H.shape[0], dtype=H.dtype)
            U = torch.linalg.cholesky(torch.cholesky_inverse(torch.linalg.cholesky(H)), upper=True)
            if compression['method'] == 'sparsegpt':
                levels = [sparsegpt(W, U, round(level['value'] * W.numel())) for level in u['levels']]
            else:
                levels = [gptq(W, U, level['value'], compression['group']) for level in u['levels']]
            torch.stack([level.float().T.contiguous() for level in levels]).numpy().tofile(f"{out_dir}/{name}.bin")
    return time.perf_counter() - start


def dense_log_probs(model, db, inputs):
    """The dense model's log-probabilities on each window, computed once, as EvoPress caches them."""
    db.stitch([-1] * len(db.units))
    return [torch.log_softmax(model.logits(x), dim=-1) for x in inputs]


def window_kls(model, db, inputs, dense, T, genome, sample):
    """KL(dense || configuration) per token on the windows `sample`, in order (a value is their
    sum in that order over their count, as the project combines them)."""
    db.stitch(genome)
    with torch.inference_mode():
        return [float(F.kl_div(torch.log_softmax(model.logits(inputs[i]), dim=-1), dense[i], log_target=True, reduction='sum')) / T for i in sample]


_search = {}  # what a search's worker processes read: set before they fork, so they inherit it


def _search_window_kls(task):
    genome, sample = task
    return window_kls(genome=genome, sample=sample, **_search)


def evopress_search(model, db, windows, T, search, processes):
    """EvoPress's search (Sieberling et al., 2024, Algorithm 1), with its racing stages: a
    (1+λ) loop from the uniform configuration; λ offspring by level-switch mutation
    (min(U{1..3}, U{1..3}) switches, each moving one unit a level up and another a level down,
    which keeps the budget where every level step costs the same); racing selection through the
    stages, each on calibration windows sampled afresh from the pool; the parent joins the last
    stage (elitism) and the stage's survivor is the next parent. Dense log-probabilities of the pool
    are computed first, inside the timed span, as EvoPress computes them at start.
    With several processes (one thread each, forked with the model and the dense outputs), each
    candidate's windows are split among them, as data-parallel EvoPress splits them among GPUs; the
    values, and so the search, are the same as with one.
    Returns the seconds at the end of each generation (from the start) and each generation's parent."""
    rng = random.Random(search['seed'])
    inputs = [torch.from_numpy(w[:T].copy()) for w in windows]
    costs = [[level['cost'] for level in u['levels']] for u in db.units]
    steps = {c[i] - c[i + 1] for c in costs for i in range(len(c) - 1)}
    if len(steps) != 1:
        raise SystemExit(f'the peer\'s level switch needs equal level steps; this database has steps {sorted(steps)}')
    start = time.perf_counter()
    _search.update(model=model, db=db, inputs=inputs, dense=dense_log_probs(model, db, inputs), T=T)
    workers = multiprocessing.get_context('fork').Pool(processes) if processes > 1 else None

    def fitness(candidates, sample):
        parts = [sample[p::processes] for p in range(processes)]
        tasks = [(c, part) for c in candidates for part in parts]
        values = workers.map(_search_window_kls, tasks, chunksize=1) if workers else [_search_window_kls(t) for t in tasks]
        scores = []
        for c in range(len(candidates)):
            by_window = {i: v for part, vs in zip(parts, values[c * processes:(c + 1) * processes]) for i, v in zip(part, vs)}
            scores.append(sum(by_window[i] for i in sample) / len(sample))  # in window order, as one process sums them
        return scores

    def mutate(parent):
        child = list(parent)
        for _ in range(min(rng.randint(1, 3), rng.randint(1, 3))):
            up = rng.choice([u for u in range(len(child)) if child[u] > 0])
            down = rng.choice([u for u in range(len(child)) if u != up and child[u] < len(costs[u]) - 1])
            child[up] -= 1
            child[down] += 1
        return child

    parent = list(search['uniform'])
    marks, parents = [], []
    try:
        for _ in range(search['generations']):
            candidates = [mutate(parent) for _ in range(search['offspring'])]
            for s, stage in enumerate(search['stages']):
                if s == len(search['stages']) - 1 and parent not in candidates:
                    candidates.append(parent)
                sample = rng.sample(range(len(inputs)), stage['windows'])
                scores = fitness(candidates, sample)
                order = sorted(range(len(candidates)), key=lambda i: scores[i])
                candidates = [candidates[i] for i in order[:stage['survivors']]]
            parent = candidates[0]
            marks.append(time.perf_counter() - start)
            parents.append(parent)
    finally:
        if workers:
            workers.terminate()
    return marks, parents


def openblas_core():
    """The kernel OpenBLAS chose (or was told to use with OPENBLAS_CORETYPE), read from the library itself."""
    with open('/proc/self/maps') as f:
        libs = sorted({line.split()[-1] for line in f if 'openblas' in line.lower() and '.so' in line})
    for lib in libs:
        try:
            fn = ctypes.CDLL(lib).openblas_get_corename
            fn.restype = ctypes.c_char_p
            return fn().decode()
        except (OSError, AttributeError):
            continue
    return 'not OpenBLAS'


def main():
    job = json.load(open(sys.argv[1]))
    torch.set_num_threads(job['threads'])
    model = Gpt2(job['model'])
    db = Database(job['database'], model)
    T = job['length']
    # A small product first, so that OpenBLAS is loaded before it is asked for its kernel.
    torch.ones(64, 64) @ torch.ones(64, 64)
    print(json.dumps({'peer': 'pytorch', 'torch': torch.__version__, 'threads': torch.get_num_threads(), 'openblas_core': openblas_core()}), flush=True)

    build = job.get('build')
    if build:
        windows = np.fromfile(build['windows'], dtype=np.uint16).reshape(-1, T + 1).astype(np.int64)
        with open(f"{job['database']}/manifest.json") as f:
            manifest = json.load(f)
        seconds = build_database(model, manifest, windows, T, build['damping'], build['out'])
        print(json.dumps({'build': manifest['compression']['method'], 'seconds': seconds, 'levels': sum(len(u['levels']) for u in manifest['units'])}), flush=True)
        return

    search = job.get('search')
    if search:
        windows = np.fromfile(search['windows'], dtype=np.uint16).reshape(-1, T + 1).astype(np.int64)
        marks, parents = evopress_search(model, db, windows, T, search, job.get('processes', 1))
        print(json.dumps({'search': search['seed'], 'marks': marks, 'parents': parents}), flush=True)
        return

    check = job.get('check')
    if check:
        tokens = torch.from_numpy(np.fromfile(check['window'], dtype=np.uint16).astype(np.int64))[:T]
        for genome, path in ((None, check['dense']), (check['genome'], check['candidate'])):
            db.stitch(genome if genome is not None else [-1] * len(db.units))
            theirs = np.fromfile(path, dtype=np.float32)
            ours = model.logits(tokens).numpy().reshape(-1)
            print(json.dumps({'check': 'dense' if genome is None else 'candidate', 'max_abs_diff': float(np.abs(ours - theirs).max())}), flush=True)

    for case in job['cases']:
        windows = np.fromfile(case['windows'], dtype=np.uint16).reshape(-1, T + 1).astype(np.int64)
        inputs = [torch.from_numpy(w[:T].copy()) for w in windows]
        dense = dense_log_probs(model, db, inputs)

        def fitness(genome):
            return sum(window_kls(model, db, inputs, dense, T, genome, range(len(inputs)))) / len(inputs)

        for genome in job['warmUp']:  # level files read, caches warm, as the project's workers are
            fitness(genome)
        seconds, values = [], []
        for genome in job['genomes']:
            start = time.perf_counter()
            values.append(fitness(genome))
            seconds.append(time.perf_counter() - start)
        print(json.dumps({'tokens': case['tokens'], 'seconds_per_eval': statistics.median(seconds), 'all_seconds': seconds, 'values': values}), flush=True)


if __name__ == '__main__':
    main()
