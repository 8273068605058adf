#!/usr/bin/env bash
# The main job, end to end, on embedded defaults: a local workspace folder ($FORECAST_HOME),
# a SQLite registry inside it, and a real dataset bundled with the installed packages.
set -euo pipefail
: "${FORECAST_HOME:=$PWD/demo-home}"
export FORECAST_HOME
DATA="$FORECAST_HOME/input/tourism-monthly.jsonl"
RUN="demo-$(date -u +%Y%m%d%H%M%S)"

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "1. Write a real dataset (Tourism competition, 366 monthly series) as JSON lines"
forecast datasets sample tourism-monthly "$DATA"

step "2. Validate and import it as dataset '$RUN'"
forecast datasets import "$RUN" "$DATA" --freq M

step "Done"
echo "workspace: $FORECAST_HOME"
echo "registry:  $FORECAST_HOME/registry.db"
echo "see:       forecast datasets describe $RUN"
