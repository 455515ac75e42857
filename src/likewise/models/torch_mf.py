"""TorchMF: the PyTorch embedding model of the tutorials, trained with Adam.

    score(u, i) = mu + b_u + b_i + p_u . q_i

with an MSE loss on ratings or a BPR loss on (user, used item, random item) triples,
mini-batches, early stopping on a validation split, checkpoint / resume, CPU or CUDA
picked automatically and optional ``torch.compile``. PyTorch is only needed to *fit*:
the learned embeddings are stored as NumPy arrays, so a saved model loads and recommends
without torch (and checkpoints are ``.npy`` files plus JSON, never pickles).

Requires the ``torch`` extra: ``pip install likewise[torch]``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import ClassVar

import numpy as np

from .._fs import install_dir, staging_dir
from .._params import (Bool, Choice, FilePath, Float, Int, RandomState, Str, Union,
                       check_random_state, seed_from)
from ..data.interactions import Interactions
from ..errors import ConfigError, DataError, ModelFormatError, require
from ._factors import FactorScoring
from ._progress import fit_steps
from .base import Recommender

__all__ = ["TorchMF"]

_PARAMS = ("user_emb", "item_emb", "user_bias", "item_bias")


def _torch():
    return require("torch", "torch", "TorchMF")


def _build(torch, n_users, n_items, factors, init_std, gen):
    """The embedding tables as plain leaf tensors (no nn.Module: trivially serialisable)."""
    def normal(n):
        return (torch.randn(n, factors, generator=gen) * init_std).requires_grad_()

    return {
        "user_emb": normal(n_users), "item_emb": normal(n_items),
        "user_bias": torch.zeros(n_users, requires_grad=True),
        "item_bias": torch.zeros(n_items, requires_grad=True),
    }


def _forward(p, u, i, mu):
    return mu + p["user_bias"][u] + p["item_bias"][i] + (p["user_emb"][u] *
                                                         p["item_emb"][i]).sum(-1)


class TorchMF(FactorScoring, Recommender):
    """Biased matrix factorisation in PyTorch (MSE or BPR loss, Adam, mini-batches).

    Parameters
    ----------
    factors : int
        Embedding size (default 64).
    epochs : int
        Maximum passes over the training interactions (default 50).
    learning_rate : float
        Adam step size (default 0.005).
    regularization : float
        L2 penalty on the embeddings and biases used in a batch, per example (default 0.1).
    batch_size : int
        Examples per mini-batch (default 1024).
    loss : {"mse", "bpr"}
        Squared error on ratings (explicit data) or Bayesian personalised ranking with one
        uniformly sampled negative per interaction (any data).
    validation_fraction : float
        Share of the interactions held out for early stopping (0 disables it; default 0.1).
    patience : int
        Stop after this many epochs without a better validation loss; the best epoch's
        weights are kept (default 3).
    init_std : float
        Standard deviation of the initial embeddings (default 0.1).
    device : str
        "auto" (CUDA when available, else CPU), "cpu", "cuda" or "cuda:N".
    compile : bool
        Wrap the loss in ``torch.compile`` (default False).
    checkpoint_dir : str or None
        Write the training state (``.npy`` + JSON) there after every epoch.
    resume : bool
        Continue from the state in ``checkpoint_dir`` when there is one (same data and
        parameters), instead of starting over.
    num_threads : int or None
        CPU threads for torch during fit (0 = torch's default). None (default): 1 when
        ``random_state`` is set, since torch's threaded embedding gradients add in a
        varying order (fits differ in the last bits), else torch's default. A CUDA fit
        is not bit-reproducible.
    random_state : None, int or numpy.random.Generator
        Seed for the initialisation, the validation split, shuffling and negatives.

    Examples
    --------
    >>> import likewise
    >>> data = likewise.datasets.movielens("100k")
    >>> model = likewise.TorchMF(epochs=5, random_state=0).fit(data)  # doctest: +SKIP
    >>> model.predict([196], [242])  # doctest: +SKIP
    array([3.7], dtype=float32)
    """

    _param_spec: ClassVar[dict] = {
        "factors": Int(1, help="Embedding size."),
        "epochs": Int(1, help="Maximum passes over the training interactions."),
        "learning_rate": Float(0, low_open=True, help="Adam step size."),
        "regularization": Float(0, help="L2 penalty on the embeddings and biases in a batch, "
                                        "per example."),
        "batch_size": Int(1, help="Examples per mini-batch."),
        "loss": Choice(("mse", "bpr"), help="Squared error on ratings, or BPR with one sampled "
                                            "negative per interaction."),
        "validation_fraction": Float(0, 0.9, help="Share held out for early stopping (0 "
                                                  "disables it)."),
        "patience": Int(1, help="Stop after this many epochs without a better validation "
                                "loss."),
        "init_std": Float(0, help="Standard deviation of the initial embeddings."),
        "device": Union(Choice(("auto", "cpu", "cuda")),
                        Str(pattern=r"cuda:\d+", words="'cuda:N'"),
                        help="'auto': CUDA when available, else CPU."),
        "compile": Bool(help="Wrap the loss in torch.compile."),
        "checkpoint_dir": FilePath(none_ok=True, help="Write the training state there after "
                                                      "every epoch."),
        "resume": Bool(help="Continue from the state in checkpoint_dir when there is one."),
        "num_threads": Int(0, none_ok=True,
                           help="CPU threads for torch (0 = torch's default); None: 1 "
                                "(bit-reproducible) when seeded, else torch's default."),
        "random_state": RandomState(help="Seed for the initialisation, the validation split, "
                                         "shuffling and negatives."),
    }

    def __init__(self, factors: int = 64, epochs: int = 50, learning_rate: float = 0.005,
                 regularization: float = 0.1, batch_size: int = 1024, loss: str = "mse",
                 validation_fraction: float = 0.1, patience: int = 3, init_std: float = 0.1,
                 device: str = "auto", compile: bool = False, checkpoint_dir: str | None = None,
                 resume: bool = False, num_threads: int | None = None, random_state=None):
        self.factors = factors
        self.epochs = epochs
        self.learning_rate = learning_rate
        self.regularization = regularization
        self.batch_size = batch_size
        self.loss = loss
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.init_std = init_std
        self.device = device
        self.compile = compile
        self.checkpoint_dir = checkpoint_dir
        self.resume = resume
        self.num_threads = num_threads
        self.random_state = random_state

    @property
    def estimates_ratings(self) -> bool:  # type: ignore[override]
        return self.loss == "mse"

    def _check_params(self, data: Interactions) -> None:
        if self.loss == "mse" and not data.is_explicit:
            raise DataError("TorchMF(loss='mse') needs explicit ratings; use loss='bpr' for "
                            "implicit data")
        if self.resume and self.checkpoint_dir is None:
            raise ConfigError("TorchMF: resume=True needs a checkpoint_dir")

    def _device(self, torch):
        if self.device == "auto":
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        if self.device.startswith("cuda") and not torch.cuda.is_available():
            raise ConfigError(f"TorchMF: device={self.device!r} but CUDA is not available; "
                              "use device='auto' or 'cpu'")
        return torch.device(self.device)

    # -- fitting ------------------------------------------------------------------------
    def _fit(self, data: Interactions) -> None:
        torch = _torch()
        rng = check_random_state(self.random_state)
        seed = seed_from(rng)
        previous_threads = torch.get_num_threads()
        threads = self.num_threads
        if threads is None:  # a seeded fit runs one thread: the same bits every run
            threads = 1 if self.random_state is not None else 0
        if threads:
            torch.set_num_threads(threads)
        try:
            self._train(torch, data, rng, seed)
        finally:
            torch.set_num_threads(previous_threads)

    def _train(self, torch, data, rng, seed):
        device = self._device(torch)
        m = data.matrix
        users = np.repeat(np.arange(data.n_users, dtype=np.int64), np.diff(m.indptr))
        items = m.indices.astype(np.int64)
        values = m.data.astype(np.float32)
        n = len(values)
        n_val = round(self.validation_fraction * n) if n > 1 else 0
        perm = rng.permutation(n)
        val_idx, train_idx = np.sort(perm[:n_val]), np.sort(perm[n_val:])
        mu = float(values[train_idx].mean()) if self.loss == "mse" else 0.0

        gen = torch.Generator().manual_seed(seed)
        params = _build(torch, data.n_users, data.n_items, self.factors, self.init_std, gen)
        params = {k: v.detach().to(device).requires_grad_() for k, v in params.items()}
        opt = torch.optim.Adam(list(params.values()), lr=self.learning_rate)

        def t(a, dtype=torch.int64):
            return torch.as_tensor(a, dtype=dtype, device=device)

        tu, ti, tv = t(users[train_idx]), t(items[train_idx]), t(values[train_idx],
                                                                   torch.float32)
        vu, vi, vv = t(users[val_idx]), t(items[val_idx]), t(values[val_idx], torch.float32)
        reg = self.regularization
        n_items = data.n_items

        def batch_loss(u, i, v, j):
            pu, qi = params["user_emb"][u], params["item_emb"][i]
            bu, bi = params["user_bias"][u], params["item_bias"][i]
            if self.loss == "mse":
                pred = mu + bu + bi + (pu * qi).sum(-1)
                fit = ((pred - v) ** 2).mean()
                penalty = (pu.pow(2).sum(-1) + qi.pow(2).sum(-1) + bu ** 2 + bi ** 2).mean()
            else:
                qj, bj = params["item_emb"][j], params["item_bias"][j]
                x = bi - bj + (pu * (qi - qj)).sum(-1)
                fit = -torch.nn.functional.logsigmoid(x).mean()
                penalty = (pu.pow(2).sum(-1) + qi.pow(2).sum(-1) + qj.pow(2).sum(-1)
                           + bi ** 2 + bj ** 2).mean()
            return fit, fit + reg * penalty

        step_fn = torch.compile(batch_loss) if self.compile else batch_loss

        def validation_loss():
            if n_val == 0:
                return None
            with torch.no_grad():
                g = torch.Generator(device=device).manual_seed(seed + 1)
                j = torch.randint(0, n_items, (n_val,), generator=g, device=device)
                fit, _ = batch_loss(vu, vi, vv, j)
            return float(fit)

        start_epoch, best, best_epoch, history = 0, np.inf, -1, []
        best_state = None
        ckpt = Path(self.checkpoint_dir) if self.checkpoint_dir is not None else None
        if ckpt is not None and self.resume and (ckpt / "checkpoint.json").exists():
            start_epoch, best, best_epoch, history, best_state = self._load_checkpoint(
                torch, ckpt, params, opt, data, device)

        n_train = len(train_idx)
        for epoch in fit_steps(self, self.epochs, start=start_epoch):
            g = torch.Generator(device=device).manual_seed(seed + 1000 + epoch)
            order = torch.randperm(n_train, generator=g, device=device)
            negatives = torch.randint(0, n_items, (n_train,), generator=g, device=device)
            total = 0.0
            for lo in range(0, n_train, self.batch_size):
                b = order[lo:lo + self.batch_size]
                fit, objective = step_fn(tu[b], ti[b], tv[b], negatives[lo:lo + len(b)])
                opt.zero_grad(set_to_none=True)
                objective.backward()
                opt.step()
                total += float(fit.detach()) * len(b)
            train_loss = total / max(n_train, 1)
            if not np.isfinite(train_loss):
                raise ConfigError(f"TorchMF diverged at epoch {epoch + 1}: the training loss "
                                  f"became NaN or infinite; learning_rate="
                                  f"{self.learning_rate} is probably too high")
            val = validation_loss()
            history.append({"epoch": epoch + 1, "train_loss": train_loss, "val_loss": val})
            score = train_loss if val is None else val
            if score < best:
                best, best_epoch = score, epoch
                best_state = {k: v.detach().cpu().numpy().copy() for k, v in params.items()}
            if ckpt is not None:
                self._save_checkpoint(ckpt, params, opt, epoch, best, best_epoch, history,
                                      best_state, data)
            if val is not None and epoch - best_epoch >= self.patience:
                break
        state = best_state if best_state is not None else \
            {k: v.detach().cpu().numpy() for k, v in params.items()}
        self.mu_ = mu
        self.user_factors_ = state["user_emb"].astype(np.float32)
        self.item_factors_ = state["item_emb"].astype(np.float32)
        self.user_bias_ = state["user_bias"].astype(np.float32)
        self.item_bias_ = state["item_bias"].astype(np.float32)
        self.best_epoch_ = int(best_epoch + 1)
        self.history_ = history
        self.device_ = str(device)

    # -- checkpoints: .npy arrays + JSON, no pickle -------------------------------------
    def _fingerprint(self, data) -> dict:
        params = {k: v for k, v in self.get_params().items()
                  if k not in ("epochs", "patience", "checkpoint_dir", "resume", "device",
                               "compile", "num_threads")}
        params["random_state"] = params["random_state"] if isinstance(
            params["random_state"], (int, type(None))) else "generator"
        return {"params": params, "n_users": data.n_users, "n_items": data.n_items,
                "nnz": data.nnz}

    def _save_checkpoint(self, ckpt: Path, params, opt, epoch, best, best_epoch, history,
                         best_state, data) -> None:
        arrays = {f"param.{k}": v.detach().cpu().numpy() for k, v in params.items()}
        if best_state is not None:
            arrays.update({f"best.{k}": v for k, v in best_state.items()})
        steps = {}
        for k, p in params.items():
            st = opt.state.get(p, {})
            if st:
                arrays[f"adam.{k}.exp_avg"] = st["exp_avg"].detach().cpu().numpy()
                arrays[f"adam.{k}.exp_avg_sq"] = st["exp_avg_sq"].detach().cpu().numpy()
                steps[k] = float(st["step"])
        meta = {"epoch": epoch, "best": best if np.isfinite(best) else None,
                "best_epoch": best_epoch, "history": history, "steps": steps,
                "fingerprint": self._fingerprint(data), "arrays": sorted(arrays)}
        ckpt.parent.mkdir(parents=True, exist_ok=True)
        # the previous checkpoint stays in place (and loadable) until this one is complete
        with staging_dir(ckpt) as tmp:
            for name, arr in arrays.items():
                with open(tmp / f"{name}.npy", "wb") as fh:
                    np.save(fh, arr, allow_pickle=False)
            (tmp / "checkpoint.json").write_text(json.dumps(meta))
            install_dir(tmp, ckpt, "checkpoint", marker="checkpoint.json")

    def _load_checkpoint(self, torch, ckpt: Path, params, opt, data, device):
        meta = json.loads((ckpt / "checkpoint.json").read_text())
        if meta.get("fingerprint") != json.loads(json.dumps(self._fingerprint(data))):
            raise ModelFormatError(f"{ckpt} holds a checkpoint for other data or parameters; "
                                   "use another checkpoint_dir or resume=False")
        names = set(meta["arrays"])

        def arr(name):
            return np.load(ckpt / f"{name}.npy", allow_pickle=False)

        with torch.no_grad():
            for k, p in params.items():
                p.copy_(torch.as_tensor(arr(f"param.{k}"), device=device))
                if f"adam.{k}.exp_avg" in names:
                    opt.state[p] = {
                        "step": torch.tensor(meta["steps"][k]),
                        "exp_avg": torch.as_tensor(arr(f"adam.{k}.exp_avg"), device=device),
                        "exp_avg_sq": torch.as_tensor(arr(f"adam.{k}.exp_avg_sq"),
                                                      device=device)}
        best_state = {k: arr(f"best.{k}") for k in _PARAMS if f"best.{k}" in names} or None
        best = meta["best"] if meta["best"] is not None else np.inf
        return meta["epoch"] + 1, best, meta["best_epoch"], meta["history"], best_state

    # -- scoring (NumPy only) ------------------------------------------------------------
    def _bias_terms(self):
        return self._biased_terms()

    def _score_history(self, item_idx: np.ndarray, values: np.ndarray) -> np.ndarray:
        Q = self.item_factors_.astype(np.float64)
        k = len(item_idx)
        if self.loss == "mse":
            # the exact minimiser of the training objective for one new user, items fixed
            feats = np.hstack([np.ones((k, 1)), Q[item_idx]])
            target = values - self.mu_ - self.item_bias_[item_idx]
            sol = np.linalg.solve(feats.T @ feats + self.regularization * k *
                                  np.eye(self.factors + 1), feats.T @ target)
            bu, p = sol[0], sol[1:]
        else:
            # full-batch gradient ascent on the BPR objective: history vs every other item
            bu, p = 0.0, np.zeros(self.factors)
            others = np.setdiff1d(np.arange(self.n_items), item_idx)
            diff_b = self.item_bias_[item_idx][:, None] - self.item_bias_[others][None, :]
            for _ in range(100):
                x = Q[item_idx] @ p
                y = Q[others] @ p
                z = 1.0 / (1.0 + np.exp(np.clip(x[:, None] - y[None, :] + diff_b, -30, 30)))
                grad = (z.sum(1) @ Q[item_idx] - z.sum(0) @ Q[others]) / z.size
                p += 1.0 * (grad - self.regularization * p)
        return (Q @ p + self.mu_ + bu + self.item_bias_).astype(np.float32)

