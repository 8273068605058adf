"""A random stream per item, so that an item's sample paths depend on the seed and the item alone.

A seeded forecast or backtest draws every item's random numbers from the item's own generator:
numpy's Philox, keyed by a 128-bit hash of the seed and the item's id. What else is in the batch,
the partition or the job (partition size, engine, thread count, batch size) changes nothing, so a
forecast is the same on one machine and on a cluster, in partitions of 7 or 2,048 items, and for
an item whether it is forecast alone or among a million. An item without an id is keyed by its
position in the call.

:class:`ItemStreams` draws, for ``rows_per_item`` consecutive rows per item (an item's sample
paths), the distributions gluonts' DeepAR uses (student-T, gaussian, negative-binomial, beta,
possibly affine-transformed), one item at a time from its generator, in step order.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import numpy as np


def item_key(seed: int, item_id: Any, position: int) -> int:
    """The 128-bit key of an item's stream under ``seed`` (by its id; by ``position`` without one)."""
    name = f"#{position}" if item_id is None else f"={item_id}"
    digest = hashlib.blake2b(name.encode(), digest_size=16, key=(seed % 2**64).to_bytes(8, "little")).digest()
    return int.from_bytes(digest, "little")


def item_keys(seed: int, item_ids: Sequence[Any], first: int = 0) -> list[int]:
    """:func:`item_key` of each item; ``first`` is the position of the first one in its call."""
    return [item_key(seed, item, first + i) for i, item in enumerate(item_ids)]


def generator(key: int) -> np.random.Generator:
    """A fresh generator at the start of the stream ``key``."""
    return np.random.Generator(np.random.Philox(key=key))


def seed_legacy(key: int) -> None:
    """Seed numpy's global random state (what gluonts' NPTS draws from) with the stream ``key``."""
    np.random.seed([(key >> (32 * i)) & 0xFFFFFFFF for i in range(4)])


class ItemStreams:
    """Draws for a batch of ``len(keys)`` items x ``rows_per_item`` rows, each item's rows from its
    own stream. :meth:`restart` rewinds every stream (a batch redone in another precision draws the
    same numbers)."""

    def __init__(self, keys: Sequence[int], rows_per_item: int) -> None:
        self.keys = list(keys)
        self.rows_per_item = rows_per_item
        self.restart()

    def restart(self) -> None:
        self._generators = [generator(k) for k in self.keys]

    def _per_item(self, draw: Any, *params: Any) -> Any:
        """``draw(generator, *item_params)`` for each item's rows, as one float32 tensor of the
        parameters' shape (rows first)."""
        import torch

        arrays = [p.detach().double().numpy() for p in params]
        out = np.empty(arrays[0].shape, dtype=np.float64)
        n = self.rows_per_item
        for i, g in enumerate(self._generators):
            rows = slice(i * n, (i + 1) * n)
            out[rows] = draw(g, *(a[rows] for a in arrays))
        return torch.from_numpy(out).to(params[0].dtype)

    def standard_t(self, df: Any) -> Any:
        """Student-T draws with ``df`` degrees of freedom (one per row)."""
        return self._per_item(lambda g, d: g.standard_t(d), df)

    def sample(self, distr: Any) -> Any:
        """A draw of ``distr`` (rows first), one item's rows from its stream."""
        from torch.distributions import (
            Beta,
            NegativeBinomial,
            Normal,
            StudentT,
            TransformedDistribution,
        )

        if isinstance(distr, TransformedDistribution):
            x = self.sample(distr.base_dist)
            for t in distr.transforms:
                x = t(x)
            return x
        shape = distr.batch_shape + distr.event_shape
        if isinstance(distr, StudentT):
            return distr.loc + distr.scale * self.standard_t(distr.df.expand(shape))
        if isinstance(distr, Normal):
            return distr.loc + distr.scale * self._per_item(lambda g, loc: g.standard_normal(loc.shape), distr.loc.expand(shape))
        if isinstance(distr, NegativeBinomial):  # torch's: Poisson(Gamma(total_count, scale exp(logits)))
            return self._per_item(lambda g, r, logits: g.poisson(np.minimum(g.gamma(r, np.exp(logits)), 1e15)),
                                  distr.total_count.expand(shape), distr.logits.expand(shape))
        if isinstance(distr, Beta):
            return self._per_item(lambda g, a, b: g.beta(a, b),
                                  distr.concentration1.expand(shape), distr.concentration0.expand(shape))
        raise TypeError(f"no per-item sampler for {type(distr).__name__}")

    @staticmethod
    def supports(distr_output: Any) -> bool:
        """True for the output distributions :meth:`sample` draws (DeepAR's four likelihoods)."""
        return type(distr_output).__name__ in ("StudentTOutput", "NormalOutput", "NegativeBinomialOutput", "BetaOutput")

    def __repr__(self) -> str:
        return f"ItemStreams({len(self.keys)} items x {self.rows_per_item} rows)"
