"""Draw DeepAR sample paths faster than gluonts' ``DeepARModel.forward``, with the same model.

gluonts' decoding loop re-concatenates the whole (rows x past) target history and stacks one
slice per lag at every step; on a 2-core CPU that is a quarter of the time. :class:`PathSampler`
keeps one preallocated (time x rows) buffer per batch and gathers all lags of a step as whole rows
with one ``index_select``, runs the LSTM's layers through oneDNN's kernel directly (``nn.LSTM``
stacks and unstacks the per-layer states around it at every step), and samples the default
student-T likelihood straight from its parameters, without building distribution objects. In
float32 it draws exactly what gluonts draws for the same random state (tested bit for bit).

Optionally the LSTM's decoding steps run in float16 where the CPU has native half-precision
arithmetic (AVX512-FP16 / AMX-FP16; oneDNN's LSTM kernel is then ~1.6x faster than float32
here). The context encoding, the distribution head (its projections fused into one float32
matrix product) and the sampling stay float32; a batch whose
half-precision pass overflows (a non-finite value anywhere) is redone in float32 from the same
random state.

Given :class:`forecast.item_streams.ItemStreams`, each item's draws come from its own stream
instead of torch's global random state, so batches can be decoded on several threads at once, in
any grouping, and an item's paths depend on the seed and the item alone.
"""

from __future__ import annotations

import copy
from typing import Any, Literal

from forecast import compat
from forecast.item_streams import ItemStreams

Precision = Literal["auto", "float32", "float16"]


def half_precision_available() -> bool:
    """True when oneDNN has native float16 kernels on this CPU."""
    return compat.half_precision_available()


class PathSampler:
    """Sample paths from a gluonts torch ``DeepARModel`` (``predictor.prediction_net.model``)."""

    def __init__(self, model: Any, precision: Precision = "auto") -> None:
        import torch

        self.model = model
        self.lags = torch.as_tensor(list(model.lags_seq), dtype=torch.long)
        use_half = precision == "float16" or (precision == "auto" and half_precision_available())
        self.dtype = torch.float16 if use_half else torch.float32
        self.rnn_half = copy.deepcopy(model.rnn).to(torch.float16).eval() if use_half else None
        #: per precision, the LSTM's layers for oneDNN's kernel called directly (None: ``nn.LSTM``)
        self._layers = {torch.float32: _onednn_layers(model.rnn)}
        if self.rnn_half is not None:  # forced float16 on a CPU without it: nn.LSTM's own fallback
            self._layers[torch.float16] = _onednn_layers(self.rnn_half) if half_precision_available() else None
        #: student-T (DeepAR's default likelihood) is sampled straight from its parameters: the same
        #: operations as building the distribution and calling ``draw``, without the objects
        self.student_t = (type(model.distr_output).__name__ == "StudentTOutput"
                          and compat.generator_draws())
        proj = list(model.param_proj.proj)
        #: the one-output projections (one per parameter) as one matrix, for the half-precision path
        self._proj = ((torch.cat([p.weight for p in proj]).detach(), torch.cat([p.bias for p in proj]).detach()[:, None])
                      if all(p.out_features == 1 for p in proj) else None)
        #: :class:`ItemStreams` draws the output distribution (DeepAR's four likelihoods)
        self.supports_streams = ItemStreams.supports(model.distr_output)

    @property
    def precision(self) -> str:
        """The resolved decoding precision, ``"float16"`` or ``"float32"`` (stored with results)."""
        return "float16" if self.rnn_half is not None else "float32"

    def sample(self, inputs: dict[str, Any], num_samples: int, streams: ItemStreams | None = None) -> Any:
        """``(batch, num_samples, prediction_length)`` float32 sample paths for one input batch
        (the fields of gluonts' inference loader for this model), each item's drawn from its
        stream in ``streams`` if given, else all from torch's global random state."""
        import torch

        if self.rnn_half is not None:
            state = torch.get_rng_state() if streams is None else None
            try:
                out = self._decode(inputs, num_samples, self.rnn_half, torch.float16, streams)
                if bool(torch.isfinite(out).all()):
                    return out
            except ValueError:  # torch.distributions rejecting NaN parameters from an overflow
                pass
            if streams is not None:
                streams.restart()
            else:
                torch.set_rng_state(state)
        return self._decode(inputs, num_samples, self.model.rnn, torch.float32, streams)

    def _next_value(self, output: Any, scale: Any, streams: ItemStreams | None) -> Any:
        """One value per row, ``(rows, 1)``, from the LSTM's last output ``(rows, hidden)``."""
        import torch

        model = self.model
        if output.dtype == torch.float32 or self._proj is None:
            params = model.param_proj(output.float().unsqueeze(1))
        else:  # one (parameters x hidden) product in float32 instead of a linear layer per parameter
            weight, bias = self._proj
            raw = torch.addmm(bias, weight, output.float().T)
            params = model.param_proj.domain_map(*(r.view(-1, 1, 1) for r in raw))
        if streams is not None:
            if self.student_t:  # the distribution's draw without building it
                df, loc, t_scale = params
                return 0.0 + scale * (loc + t_scale * streams.standard_t(df))
            return streams.sample(model.output_distribution(params, scale=scale))
        if self.student_t:
            return _student_t_draw(*params, scale)
        return model.output_distribution(params, scale=scale).sample()

    def _decode(self, inputs: dict[str, Any], num_samples: int, rnn: Any, dtype: Any,
                streams: ItemStreams | None) -> Any:
        import torch

        def sample(distr: Any) -> Any:
            return distr.sample() if streams is None else streams.sample(distr)

        model, s, h = self.model, num_samples, self.model.prediction_length
        past_target, future_time_feat = inputs["past_target"], inputs["future_time_feat"]
        params, scale, _, static_feat, state = model.unroll_lagged_rnn(
            inputs["feat_static_cat"], inputs["feat_static_real"], inputs["past_time_feat"], past_target,
            inputs["past_observed_values"], future_time_feat[:, :1],
        )
        b, p = past_target.shape
        rows = b * s
        scale_r = scale.repeat_interleave(s, dim=0)
        # history (scaled) followed by the sampled values, one row per time step so that the lags of
        # a step are whole rows (one contiguous gather), kept in the LSTM's precision (the values are
        # rounded to it on their way into the LSTM anyway)
        seq = torch.empty(p + h, rows, dtype=dtype)
        seq[:p] = (past_target / scale).to(dtype).T.repeat_interleave(s, dim=1)
        lags = torch.empty(len(self.lags), rows, dtype=dtype)
        features = torch.cat((static_feat.unsqueeze(1).expand(-1, h, -1), future_time_feat), dim=-1)
        n_lags = len(self.lags)
        rnn_input = torch.empty(b, s, n_lags + features.shape[-1], dtype=dtype)
        layers = self._layers[dtype]
        hidden = [list(x.repeat_interleave(s, dim=1).to(dtype).unbind(0)) for x in state]  # per-layer h, c
        out = torch.empty(rows, h, dtype=past_target.dtype)
        distr = model.output_distribution([x.repeat_interleave(s, dim=0) for x in params], trailing_n=1, scale=scale_r)
        nxt = sample(distr)
        out[:, :1] = nxt
        for k in range(1, h):
            torch.div(nxt.view(-1), scale_r.view(-1), out=seq[p + k - 1])
            torch.index_select(seq, 0, (p + k - 1) - self.lags, out=lags)
            rnn_input.view(rows, -1)[:, :n_lags] = lags.T
            rnn_input[:, :, n_lags:] = features[:, k : k + 1, :]
            if layers is not None:
                output = _onednn_step(layers, rnn_input.view(1, rows, -1), hidden)
            else:
                output, state_t = rnn(rnn_input.view(rows, 1, -1), (torch.stack(hidden[0]), torch.stack(hidden[1])))
                hidden = [list(state_t[0].unbind(0)), list(state_t[1].unbind(0))]
                output = output.view(rows, -1)
            nxt = self._next_value(output, scale_r, streams)
            out[:, k : k + 1] = nxt
        return model.post_process_samples(out).view(b, s, h)


def _student_t_draw(df: Any, loc: Any, scale: Any, affine_scale: Any) -> Any:
    """``AffineTransformed(StudentT(df, loc, scale), scale=affine_scale).sample()`` (gluonts'
    student-T output with a scale) without building the distribution objects: the same
    operations, so the same random state gives the same numbers."""
    return 0.0 + affine_scale * compat.student_t(df, loc, scale, None)


def _onednn_layers(rnn: Any) -> list[tuple[Any, ...]] | None:
    """Per-layer weights for calling oneDNN's LSTM layer directly (what ``nn.LSTM`` runs on CPU,
    minus stacking and unstacking the per-layer states every step); None where that kernel is
    unavailable, failed its check against ``nn.LSTM`` (:mod:`forecast.compat`), or the LSTM is not
    a plain unidirectional one."""
    return compat.lstm_layers(rnn) if compat.onednn_lstm() else None


def _onednn_step(layers: list[tuple[Any, ...]], x: Any, hidden: list[list[Any]]) -> Any:
    """One time step through all layers (:func:`forecast.compat.lstm_step`)."""
    return compat.lstm_step(layers, x, hidden)
