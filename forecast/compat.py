"""The one door to private APIs of torch and statsforecast.

The sampling path (:mod:`forecast.sampling`) and AutoCES's exact spread
(:func:`forecast.models.gaussian.ces_gaussian`) are faster for using a few functions the
libraries do not promise to keep: torch's ``_standard_gamma`` (student-T draws without building
distribution objects), oneDNN's LSTM layer (``aten.mkldnn_rnn_layer``) and half-precision
check, and statsforecast's CES forecast recursion. Each is reached only through here, and each is
checked once per process, when first needed, against the public path it replaces (:func:`report`): the same draws as
torch's own ``sample`` for the same random state, the same LSTM outputs as ``nn.LSTM``. Where a
check fails or the function is gone (a version bump), the caller takes the public path: slower,
never different.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

logger = logging.getLogger(__name__)


def _check(name: str, probe: Callable[[], bool]) -> bool:
    try:
        ok = bool(probe())
    except Exception as e:  # noqa: BLE001 - any failure means: use the public path
        logger.warning("%s is unavailable (%s: %s); using the public path (slower, same results)",
                       name, type(e).__name__, e)
        return False
    if not ok:
        logger.warning("%s does not match the public path here; using the public path (slower, same results)", name)
    return ok


def _generator_draws_match() -> bool:
    """torch's private gamma sampler gives the student-T draws ``distr.sample()`` gives from the
    same random state (an explicit generator seeded like the global state)."""
    import torch
    from torch.distributions import StudentT

    def same(distr: Any, with_generator: Callable[[Any], Any]) -> bool:
        with torch.random.fork_rng():
            torch.manual_seed(7)
            expected = distr.sample()
        return bool(torch.equal(with_generator(torch.Generator().manual_seed(7)), expected))

    df, loc, scale = torch.tensor([3.0, 5.0]), torch.tensor([0.5, -1.0]), torch.tensor([2.0, 0.3])
    return same(StudentT(df, loc, scale), lambda g: student_t(df, loc, scale, g))


def _onednn_lstm_matches() -> bool:
    """oneDNN's LSTM layer called directly gives ``nn.LSTM``'s outputs and states."""
    import torch

    if not torch.backends.mkldnn.is_available() or not hasattr(torch.ops.aten, "mkldnn_rnn_layer"):
        return False
    with torch.random.fork_rng():
        torch.manual_seed(0)
        rnn = torch.nn.LSTM(5, 4, num_layers=2, batch_first=True).eval()
        x = torch.randn(3, 1, 5)
        h0, c0 = torch.randn(2, 3, 4), torch.randn(2, 3, 4)
    with torch.no_grad():
        expected, (h_n, c_n) = rnn(x, (h0, c0))
        hidden = [list(h0.unbind(0)), list(c0.unbind(0))]
        out = lstm_step(lstm_layers(rnn), x.view(1, 3, 5), hidden)
    return bool(torch.allclose(out, expected.view(3, 4), atol=1e-6)
                and torch.allclose(torch.stack(hidden[0]), h_n, atol=1e-6)
                and torch.allclose(torch.stack(hidden[1]), c_n, atol=1e-6))


def half_precision_available() -> bool:
    """True when oneDNN has native float16 kernels on this CPU (False where the check is gone)."""
    import torch

    try:
        return bool(torch.ops.mkldnn._is_mkldnn_fp16_supported())
    except (AttributeError, RuntimeError):
        return False


def _ces_recursion() -> bool:
    from statsforecast.ces import cesforecast, switch_ces  # noqa: F401 - importable is what is checked

    return True


@functools.cache
def generator_draws() -> bool:
    """torch's private gamma sampler draws what torch's student-T ``sample`` draws."""
    return _check("torch's private gamma sampler", _generator_draws_match)


@functools.cache
def onednn_lstm() -> bool:
    """oneDNN's LSTM layer, called directly, computes what ``nn.LSTM`` computes."""
    return _check("oneDNN's LSTM layer (aten.mkldnn_rnn_layer)", _onednn_lstm_matches)


@functools.cache
def ces_recursion_available() -> bool:
    """statsforecast's CES forecast recursion is importable (AutoCES's exact spread checks the rest
    itself, per model). Checked alone: statsforecast's forked fitting workers must never run torch."""
    return _check("statsforecast's CES forecast recursion", _ces_recursion)


CHECKS = {"generator_draws": generator_draws, "onednn_lstm": onednn_lstm, "ces_recursion": ces_recursion_available}


def report() -> dict[str, bool]:
    """Which private fast paths this process uses (each checked once, when first needed)."""
    return {name: check() for name, check in CHECKS.items()}


def standard_gamma(concentration: Any, generator: Any) -> Any:
    """``Gamma(concentration, 1)`` draws from ``generator`` (torch's own sampler)."""
    import torch

    return torch._standard_gamma(concentration, generator=generator)


def student_t(df: Any, loc: Any, scale: Any, generator: Any) -> Any:
    """``StudentT(df, loc, scale).sample()`` with torch's own operations (its chi-square is
    ``Gamma(df / 2, rate 1/2)``), drawing from ``generator`` or, if None, the global state; ``df``
    has the sample's shape."""
    import torch

    x = torch.empty(df.shape, dtype=df.dtype).normal_(generator=generator)
    z = (standard_gamma(0.5 * df, generator) / 0.5).clamp_(min=torch.finfo(df.dtype).tiny)
    return loc + scale * (x * torch.rsqrt(z / df))


def lstm_layers(rnn: Any) -> list[tuple[Any, ...]] | None:
    """Per-layer weights for oneDNN's LSTM layer called directly; ``None`` where the kernel is not
    there or the LSTM is not a plain unidirectional one with biases."""
    import torch

    if (not torch.backends.mkldnn.is_available() or type(rnn) is not torch.nn.LSTM or rnn.bidirectional
            or rnn.proj_size or not rnn.bias or not hasattr(torch.ops.aten, "mkldnn_rnn_layer")):
        return None
    return [tuple(getattr(rnn, f"{name}_l{i}") for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"))
            for i in range(rnn.num_layers)]


_LSTM_MODE = 2  # oneDNN's RNN kind for LSTM in aten's mkldnn_rnn_layer


def lstm_step(layers: list[tuple[Any, ...]], x: Any, hidden: list[list[Any]]) -> Any:
    """One time step through all layers; ``x`` is ``(1, rows, features)``, ``hidden`` the per-layer
    h and c, updated in place. Returns the last layer's output ``(rows, hidden_size)``."""
    import torch

    h, c = hidden
    for i, weights in enumerate(layers):
        x, h[i], c[i], _ = torch.ops.aten.mkldnn_rnn_layer(
            x, *weights, h[i], c[i], False, [], _LSTM_MODE, h[i].shape[-1], 1, True, False, False, False)
    return x[0]


def ces_recursion() -> tuple[Callable[..., None], Callable[[str], int]] | None:
    """statsforecast's ``cesforecast`` and ``switch_ces``, or ``None`` (use its simulated intervals)."""
    if not ces_recursion_available():
        return None
    from statsforecast.ces import cesforecast, switch_ces

    return cesforecast, switch_ces
