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
from forecast.item_streams import ItemStreams, item_key, item_keys
from forecast.sampling import PathSampler, _student_t_draw


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


def _per_item_draws(distr: Any, items: int, rows: int, seed: int = 0) -> torch.Tensor:
    return ItemStreams(item_keys(seed, [f"i{k}" for k in range(items)]), rows).sample(distr)


@pytest.mark.parametrize(
    "distr",
    [
        lambda n: torch.distributions.StudentT(torch.full((n, 1), 3.5), torch.full((n, 1), 2.0), torch.full((n, 1), 0.5)),
        lambda n: torch.distributions.Normal(torch.full((n, 1), -1.0), torch.full((n, 1), 3.0)),
        lambda n: NegativeBinomial(total_count=torch.full((n, 1), 2.5), logits=torch.full((n, 1), 0.7)),
        lambda n: torch.distributions.Beta(torch.full((n, 1), 0.8), torch.full((n, 1), 2.0)),
        lambda n: AffineTransformed(torch.distributions.StudentT(torch.full((n, 1), 3.0)), scale=torch.full((n, 1), 50.0)),
    ],
    ids=["student-t", "gaussian", "negative-binomial", "beta", "scaled-student-t"],
)
def test_per_item_streams_draw_each_likelihood(distr: Any) -> None:
    """Each item's rows from its own stream, distributed as torch's own draws (two-sample
    Kolmogorov-Smirnov on 20,000 draws each), float32 like them."""
    from scipy.stats import ks_2samp

    d = distr(20_000)
    torch.manual_seed(0)
    expected = d.sample()
    got = _per_item_draws(d, 200, 100)
    assert got.shape == expected.shape == (20_000, 1) and got.dtype == torch.float32
    assert ks_2samp(got.numpy().ravel(), expected.numpy().ravel()).pvalue > 0.001
    assert not torch.equal(got, _per_item_draws(d, 200, 100, seed=1))


def test_an_items_draws_depend_on_the_seed_and_the_item_alone() -> None:
    d = torch.distributions.StudentT(torch.full((30, 1), 3.0))
    keys = item_keys(5, ["a", "b", "c"])
    together = ItemStreams(keys, 10).sample(d)
    alone = ItemStreams(item_keys(5, ["b"]), 10).sample(torch.distributions.StudentT(torch.full((10, 1), 3.0)))
    assert torch.equal(together[10:20], alone)
    assert not torch.equal(together[:10], together[10:20])
    streams = ItemStreams(keys, 10)
    first = streams.sample(d)
    assert not torch.equal(streams.sample(d), first)  # the streams go on
    streams.restart()
    assert torch.equal(streams.sample(d), first)  # rewound: the same numbers
    assert item_keys(5, [None, None], first=3) == [item_key(5, None, 3), item_key(5, None, 4)]


@pytest.mark.parametrize("distr", [StudentTOutput(), NegativeBinomialOutput()], ids=["student-t", "negative-binomial"])
def test_an_items_sample_paths_do_not_depend_on_its_companions(distr: Any) -> None:
    """The decoder with per-item streams: item 3's paths are the same in a batch of the same size
    with other items, in another position (iter_samples decodes every batch at the full size)."""
    counts = isinstance(distr, NegativeBinomialOutput)
    model = _model(distr, cats=[4, 2], nonnegative=counts)
    inputs = _inputs(model, 12, counts=counts)
    ids = [f"item-{i}" for i in range(12)]
    sampler = PathSampler(model, "float32")
    order = [9, 10, 3, 11, 0, 8, 7]
    with torch.inference_mode():
        batch = sampler.sample({k: v[:7] for k, v in inputs.items()}, 40, ItemStreams(item_keys(2, ids[:7]), 40))
        other = sampler.sample({k: v[order] for k, v in inputs.items()}, 40,
                               ItemStreams(item_keys(2, [ids[i] for i in order]), 40))
    assert batch.shape == (7, 40, 6) and torch.isfinite(batch).all()
    assert torch.equal(batch[3], other[2]) and torch.equal(batch[0], other[4])
    assert not torch.equal(batch[3], batch[4])


def test_float16_overflow_with_item_streams_redraws_the_same_numbers_in_float32() -> None:
    model = _model(StudentTOutput())
    inputs = _inputs(model, 4)
    inputs["past_target"][:, -30:-12] = 1e11
    keys = item_keys(8, list("wxyz"))
    with torch.inference_mode():
        expected = PathSampler(model, "float32").sample(inputs, 30, ItemStreams(keys, 30))
        got = PathSampler(model, "float16").sample(inputs, 30, ItemStreams(keys, 30))
    assert torch.isfinite(expected).all() and torch.equal(got, expected)


def test_student_t_from_parameters_is_the_distributions_draw() -> None:
    """The decoding loop samples gluonts' default likelihood straight from its parameters."""
    df, loc, scale = torch.rand(500, 1) * 5 + 2.1, torch.randn(500, 1), torch.rand(500, 1) + 0.1
    affine = torch.rand(500, 1) * 100
    torch.manual_seed(4)
    expected = AffineTransformed(torch.distributions.StudentT(df, loc, scale), scale=affine).sample()
    torch.manual_seed(4)
    assert torch.equal(_student_t_draw(df, loc, scale, affine), expected)
