"""The fast sample-path decoder against gluonts' own DeepAR decoding loop, on the same network."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from gluonts.torch.distributions import NegativeBinomialOutput, NormalOutput, StudentTOutput
from gluonts.torch.distributions.affine_transformed import AffineTransformed
from gluonts.torch.distributions.negative_binomial import NegativeBinomial
from gluonts.torch.model.deepar.module import DeepARModel

from forecast import sampling
from forecast.sampling import PathSampler, _student_t_draw, draw


def _model(distr_output: Any, *, dynamic: int = 3, cats: list[int] | None = None, nonnegative: bool = False) -> DeepARModel:
    torch.manual_seed(42)
    cats = cats or [1]
    model = DeepARModel(
        freq="M", context_length=12, prediction_length=6, num_feat_dynamic_real=dynamic, num_feat_static_real=1,
        num_feat_static_cat=len(cats), cardinality=cats, embedding_dimension=[3] * len(cats), num_layers=2,
        hidden_size=16, distr_output=distr_output, nonnegative_pred_samples=nonnegative,
    )
    return model.eval()


def _inputs(model: DeepARModel, batch: int, *, counts: bool = False) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    out = {}
    for name, spec in model.describe_inputs(batch).items():
        shape, dtype = tuple(spec.shape), spec.dtype
        if dtype == torch.long:
            out[name] = torch.zeros(shape, dtype=torch.long)
        elif name == "past_target":
            base = torch.rand(shape, generator=g) * 50
            out[name] = base.round() if counts else base + 100
        elif name == "past_observed_values":
            out[name] = (torch.rand(shape, generator=g) > 0.05).float()
        else:
            out[name] = torch.randn(shape, generator=g)
    return out


def _gluonts(model: DeepARModel, inputs: dict[str, torch.Tensor], n: int, seed: int) -> torch.Tensor:
    torch.manual_seed(seed)
    with torch.inference_mode():
        return model(**inputs, num_parallel_samples=n)


def _ours(sampler: PathSampler, inputs: dict[str, torch.Tensor], n: int, seed: int) -> torch.Tensor:
    torch.manual_seed(seed)
    with torch.inference_mode():
        return sampler.sample(inputs, n)


@pytest.mark.parametrize(
    ("distr", "counts"),
    [(StudentTOutput(), False), (NormalOutput(), False), (NegativeBinomialOutput(), True)],
    ids=["student-t", "gaussian", "negative-binomial"],
)
@pytest.mark.parametrize("onednn", [True, False], ids=["onednn-layers", "nn-lstm"])
def test_float32_draws_exactly_what_gluonts_draws(distr: Any, counts: bool, onednn: bool,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    if not onednn:  # where oneDNN's LSTM kernel cannot be called directly, nn.LSTM runs each step
        monkeypatch.setattr(sampling, "_onednn_layers", lambda rnn: None)
    model = _model(distr, cats=[4, 2], nonnegative=counts)
    inputs = _inputs(model, 7, counts=counts)
    sampler = PathSampler(model, "float32")
    assert (sampler._layers[torch.float32] is not None) == (onednn and torch.backends.mkldnn.is_available())
    assert sampler.dtype == torch.float32
    expected = _gluonts(model, inputs, 50, seed=3)
    got = _ours(sampler, inputs, 50, seed=3)
    assert got.shape == (7, 50, 6)
    assert torch.equal(got, expected)


@pytest.mark.parametrize("distr", [StudentTOutput(), NormalOutput()], ids=["student-t", "gaussian"])
def test_float16_decoding_matches_float32_in_distribution(distr: Any) -> None:
    model = _model(distr)
    inputs = _inputs(model, 20)
    levels = torch.tensor([0.1, 0.5, 0.9])
    ref = _ours(PathSampler(model, "float32"), inputs, 2000, seed=0).quantile(levels, dim=1)
    other_seed = _ours(PathSampler(model, "float32"), inputs, 2000, seed=1).quantile(levels, dim=1)
    half = PathSampler(model, "float16")
    assert half.dtype == torch.float16
    got = _ours(half, inputs, 2000, seed=0)
    assert got.dtype == torch.float32 and torch.isfinite(got).all()
    q = got.quantile(levels, dim=1)
    noise = (other_seed - ref).abs().mean()
    # half-precision error is small next to the Monte Carlo error of 2,000 paths
    assert (q - ref).abs().mean() < 1.5 * noise
    assert ((q - ref).abs() / ref.abs()).mean() < 0.02


def test_float16_overflow_falls_back_to_float32() -> None:
    model = _model(StudentTOutput())
    inputs = _inputs(model, 4)
    # values 10^9 times the context's scale just before it: lag inputs beyond float16's range
    inputs["past_target"][:, -30:-12] = 1e11
    expected = _ours(PathSampler(model, "float32"), inputs, 30, seed=5)
    assert torch.isfinite(expected).all()
    got = _ours(PathSampler(model, "float16"), inputs, 30, seed=5)
    assert torch.equal(got, expected)


def test_prediction_length_one() -> None:
    model = DeepARModel(freq="D", context_length=5, prediction_length=1, hidden_size=8).eval()
    inputs = _inputs(model, 3)
    assert torch.equal(_ours(PathSampler(model, "float32"), inputs, 10, seed=0), _gluonts(model, inputs, 10, seed=0))


@pytest.mark.parametrize(
    "distr",
    [
        lambda: torch.distributions.StudentT(torch.rand(500) * 5 + 2.1, torch.randn(500), torch.rand(500) + 0.1),
        lambda: torch.distributions.Normal(torch.randn(500), torch.rand(500) + 0.1),
        lambda: NegativeBinomial(total_count=torch.rand(500) * 5 + 0.1, logits=torch.randn(500)),
        lambda: torch.distributions.Beta(torch.rand(500) + 0.5, torch.rand(500) + 0.5),
        lambda: AffineTransformed(torch.distributions.StudentT(torch.full((500,), 3.0)), scale=torch.rand(500) * 100),
    ],
    ids=["student-t", "gaussian", "negative-binomial", "beta", "scaled-student-t"],
)
def test_draw_with_a_generator_is_torch_sample(distr: Any) -> None:
    d = distr()
    torch.manual_seed(123)
    expected = d.sample()
    got = draw(d, torch.Generator().manual_seed(123))
    assert torch.equal(got, expected)



def test_student_t_from_parameters_is_the_distributions_draw() -> None:
    """The decoding loop samples gluonts' default likelihood straight from its parameters."""
    df, loc, scale = torch.rand(500, 1) * 5 + 2.1, torch.randn(500, 1), torch.rand(500, 1) + 0.1
    affine = torch.rand(500, 1) * 100
    expected = draw(AffineTransformed(torch.distributions.StudentT(df, loc, scale), scale=affine),
                    torch.Generator().manual_seed(9))
    assert torch.equal(_student_t_draw(df, loc, scale, affine, torch.Generator().manual_seed(9)), expected)
    torch.manual_seed(4)
    expected = AffineTransformed(torch.distributions.StudentT(df, loc, scale), scale=affine).sample()
    torch.manual_seed(4)
    assert torch.equal(_student_t_draw(df, loc, scale, affine, None), expected)
