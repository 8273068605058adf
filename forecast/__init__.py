"""Forecasting: hyperparameters, training, backtests, artifacts, forecast generation, the torch-free
store and plots. Modules that need torch import it themselves, so importing this package does not."""

__forecast_service__ = True
