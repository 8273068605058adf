"""The managed forecasting services' own wire protocols (forecast, forecastquery, sagemaker-runtime),
so existing boto3 code runs against this service by changing ``endpoint_url``."""
