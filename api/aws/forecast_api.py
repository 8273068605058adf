"""The managed forecasting API (``AmazonForecast.<Op>``, AWS JSON 1.1) on our resources.

How its objects map onto ours, so what a boto3 client creates is visible with ``forecast ... list``
and ``/v1``, and the other way round:

- a *dataset* (a schema: domain, type, frequency, attributes) and a *dataset group* are kept in
  :class:`~api.aws.catalog.AwsCatalog`; datasets imported with ``/v1`` or the CLI are listed as
  datasets of the CUSTOM domain with a schema from their summary;
- a *dataset import job* ``J`` into dataset ``D`` is our dataset ``D-J`` (a long-format import: the
  schema's attribute order names the CSV's columns; string attributes besides ``item_id`` are
  dimensions); predictors use each dataset's latest ACTIVE import;
- *predictors*, *forecasts* and *export jobs* (forecast and predictor-backtest) are ours under the
  same name.
"""

from api.aws import datasets_api, forecasts_api, monitors_api, predictors_api  # noqa: F401  (each registers its operations)
from api.aws.kit import HANDLERS, AwsContext

__all__ = ["HANDLERS", "AwsContext"]
