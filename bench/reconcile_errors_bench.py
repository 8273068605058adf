"""Which errors MinTrace (mint-shrink) should weigh on fpp3 tourism (state / region * purpose, h 8):
seasonal naive one-season-ahead, naive one-step, or AutoETS one-step in-sample errors, with AutoETS
and AutoTheta base forecasts; MASE per level and overall. Run: .venv/bin/python bench/reconcile_errors_bench.py"""
import warnings

import numpy as np
import pandas as pd

warnings.simplefilter("ignore")
from hierarchicalforecast.methods import BottomUp, MinTrace
from statsforecast import StatsForecast
from statsforecast.models import AutoETS

from datasets.samples import long_frames
from forecast.hierarchy import build_hierarchy, node_series
from forecast.metrics import seasonal_scale
from forecast.reconcile import naive_errors

df = long_frames("tourism-regions")["target"]
series=[]; entries=[]
for (item, st, pu), g in df.groupby(["item_id","state","purpose"], sort=False):
    d={"state":st,"purpose":pu}; series.append((item,d))
    entries.append({"item_id": f"{item}|{st}|{pu}", "start": pd.Period(g.timestamp.iloc[0], freq="Q"), "target": g.target_value.to_numpy(np.float32)})
h = build_hierarchy("state/item_id * purpose", series, ["item_id"])
nodes = node_series(h, entries, "Q"); H=8
Y = np.stack([e["target"] for e in nodes]).astype(float)
tr, te = Y[:, :-H], Y[:, -H:]
long = pd.DataFrame({"unique_id": np.repeat(np.arange(len(nodes)), tr.shape[1]), "ds": np.tile(pd.period_range("1998Q1", periods=tr.shape[1], freq="Q").to_timestamp(), len(nodes)), "y": tr.ravel()})
sf = StatsForecast(models=[AutoETS(season_length=4)], freq="QS", n_jobs=2)
fc = sf.forecast(df=long, h=H, fitted=True)
fitted = sf.forecast_fitted_values()
yhat = fc.sort_values(["unique_id","ds"])["AutoETS"].to_numpy().reshape(len(nodes), H)
fit = fitted.sort_values(["unique_id","ds"])["AutoETS"].to_numpy().reshape(len(nodes), -1)
S = h.summing_matrix(); tags = h.tags()
scale = np.array([seasonal_scale(t, 4) for t in tr])
def mase(f): return np.abs(f-te).mean(axis=1)/scale
lv = {name: idx for name, idx in tags.items()}
def show(name, f):
    m = mase(f); print(name.ljust(22), "  ".join(f"{k}:{m[i].mean():.3f}" for k,i in lv.items()), f"all:{m.mean():.3f}")
show("base", yhat)
yi, fi = naive_errors([t for t in tr], 4)
show("mint-shrink snaive W", MinTrace("mint_shrink").fit_predict(S=S, y_hat=yhat, y_insample=yi, y_hat_insample=fi)["mean"])
show("mint-shrink ets W", MinTrace("mint_shrink").fit_predict(S=S, y_hat=yhat, y_insample=tr, y_hat_insample=fit)["mean"])
yi1, fi1 = naive_errors([t for t in tr], 1)
show("mint-shrink naive1 W", MinTrace("mint_shrink").fit_predict(S=S, y_hat=yhat, y_insample=yi1, y_hat_insample=fi1)["mean"])
show("wls_var ets W", MinTrace("wls_var").fit_predict(S=S, y_hat=yhat, y_insample=tr, y_hat_insample=fit)["mean"])
show("ols", MinTrace("ols").fit_predict(S=S, y_hat=yhat)["mean"])
show("bu", BottomUp().fit_predict(S=S, y_hat=yhat)["mean"])
import time

from statsforecast.models import AutoTheta

sf2 = StatsForecast(models=[AutoTheta(season_length=4)], freq="QS", n_jobs=2)
yhat2 = sf2.forecast(df=long, h=H).sort_values(["unique_id","ds"])["AutoTheta"].to_numpy().reshape(len(nodes), H)
print("--- theta base")
show("base", yhat2)
show("mint-shrink snaive W", MinTrace("mint_shrink").fit_predict(S=S, y_hat=yhat2, y_insample=yi, y_hat_insample=fi)["mean"])
show("mint-shrink ets W", MinTrace("mint_shrink").fit_predict(S=S, y_hat=yhat2, y_insample=tr, y_hat_insample=fit)["mean"])
t=time.time(); sf3 = StatsForecast(models=[AutoETS(season_length=4)], freq="QS", n_jobs=1); sf3.forecast(df=long, h=1, fitted=True); print("ets W fits", time.time()-t)
