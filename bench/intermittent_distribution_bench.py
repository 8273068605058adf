"""The distribution of the intermittent models on fpp3 PBS (h 12): negative binomial with the
history's variance-to-mean ratio, Poisson, or a Gaussian of the same mean and variance censored at
0; pooled mean wQL on the intermittent and lumpy series and on the rest. Run:
.venv/bin/python bench/intermittent_distribution_bench.py"""
import numpy as np

from datasets.samples import long_frames
from datasets.summary import demand_class
from forecast.metrics import per_item_quantile_loss
from forecast.models.intermittent import count_quantiles, count_spread, make_intermittent
from forecast.models.statistical import gaussian_quantiles

df = long_frames("pbs")["target"]
H=12; lv=np.array([0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8,0.9])
for cls_want in (("intermittent","lumpy"),("smooth","erratic")):
  res={}
  for algo in ["croston","sba","tsb","adida","imapa"]:
    tot={k:0.0 for k in ["nb","poisson","gauss"]}; den=0.0; n=0
    for _, g in df.groupby(["item_id","concession","type"]):
        y=g.target_value.to_numpy(float); tr,te=y[:-H],y[-H:]
        if demand_class(tr) not in cls_want: continue
        m=np.maximum(make_intermittent(algo).fit(tr).predict(h=H)["mean"],0)[None]
        sig=count_spread(tr,m[0])[None]
        qs={"nb":count_quantiles(m,sig,lv,integer=True)[0], "poisson":count_quantiles(m,np.sqrt(m),lv,integer=True)[0],
            "gauss":gaussian_quantiles(m,sig,lv,True)[0]}
        for k,q in qs.items(): tot[k]+=per_item_quantile_loss(te[None],q.astype(float),lv).sum()
        den+=np.abs(te).sum(); n+=1
    res[algo]={k:round(2*v/len(lv)/den,4) for k,v in tot.items()}
  print(cls_want, n, res)
