"""Signature Version 4 checks for requests from boto3 clients: the expected signature is computed
by botocore's own signer over the request as received (the signed headers, the raw path and query,
the body), with the configured key, and compared in constant time."""

from __future__ import annotations

import hmac
import re
from datetime import UTC, datetime, timedelta

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from api.aws.wire import AwsError

MAX_SKEW = timedelta(minutes=15)
_AUTH = re.compile(
    r"^AWS4-HMAC-SHA256\s+Credential=(?P<key>[^/\s]+)/(?P<date>\d{8})/(?P<region>[^/\s]+)/(?P<service>[^/\s]+)"
    r"/aws4_request,\s*SignedHeaders=(?P<signed>[a-z0-9;\-]+),\s*Signature=(?P<signature>[0-9a-f]{64})$")


def _denied(code: str, message: str) -> AwsError:
    return AwsError(code, message, status=403)


def verify(*, method: str, raw_path: str, query: str, headers: dict[str, str], body: bytes, access_key: str,
           secret_key: str, region: str, services: frozenset[str], now: datetime | None = None) -> None:
    """Accept the request if its ``Authorization`` header is a valid SigV4 signature by
    ``access_key`` for ``region`` and one of ``services`` (signing names), made within 15 minutes
    of ``now``; else :class:`AwsError` with the service's code. ``headers`` are lower-cased."""
    header = headers.get("authorization")
    if not header:
        raise _denied("MissingAuthenticationTokenException", "the request is not signed (no Authorization header)")
    m = _AUTH.match(header.strip())
    if m is None:
        raise _denied("IncompleteSignatureException", "the Authorization header is not an AWS4-HMAC-SHA256 signature")
    if m["key"] != access_key:
        raise _denied("UnrecognizedClientException", "the security token included in the request is invalid")
    if m["region"] != region or m["service"] not in services:
        raise _denied("InvalidSignatureException",
                      f"credential scope {m['region']}/{m['service']} is not this service's ({region}/"
                      f"{' or '.join(sorted(services))}); set the client's region_name or FORECAST_AWS_REGION")
    stamp = headers.get("x-amz-date", "")
    try:
        signed_at = datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    except ValueError:
        raise _denied("IncompleteSignatureException", "the request has no valid X-Amz-Date header") from None
    if abs((now or datetime.now(UTC)) - signed_at) > MAX_SKEW or stamp[:8] != m["date"]:
        raise _denied("InvalidSignatureException", "signature expired or not yet valid (X-Amz-Date is more than "
                      "15 minutes from the server's clock)")
    signed = m["signed"].split(";")
    if "host" not in signed or any(h not in headers for h in signed):
        raise _denied("IncompleteSignatureException", "the signed headers must include host and be present")
    url = f"http://{headers['host']}{raw_path}" + (f"?{query}" if query else "")
    request = AWSRequest(method=method, url=url, data=body, headers={h: headers[h] for h in signed})
    request.context["timestamp"] = stamp
    signer = SigV4Auth(Credentials(access_key, secret_key), m["service"], m["region"])
    canonical = signer.canonical_request(request)
    expected = signer.signature(signer.string_to_sign(request, canonical), request)
    if not hmac.compare_digest(expected, m["signature"]):
        raise _denied("InvalidSignatureException", "the request signature we calculated does not match the "
                      "signature you provided; check your AWS secret access key and signing method")
