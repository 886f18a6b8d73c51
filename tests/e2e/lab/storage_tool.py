"""Talk to the lab's object store directly (moto's private address), inside the namespace.

`python -m tests.e2e.lab.storage_tool ADDR HOST CA_FILE create-bucket BUCKET REGION`
`python -m tests.e2e.lab.storage_tool ADDR HOST CA_FILE put BUCKET KEY FILE`
`python -m tests.e2e.lab.storage_tool ADDR HOST CA_FILE get BUCKET KEY FILE`
`python -m tests.e2e.lab.storage_tool ADDR HOST CA_FILE delete BUCKET KEY`

moto does not check signatures, so plain path-style requests with the storage `Host` suffice,
but it files buckets by the partition of the region in the credential scope: a `cn-*` region is
partition `aws-cn`, and a bucket made without one (us-east-1, partition `aws`) is invisible to the
registry's `cn-hangzhou` requests. So every request carries a SigV4-shaped `Authorization` header
naming the region; its signature is never checked.
"""

from __future__ import annotations

import http.client
import ssl
import sys
import time
import urllib.parse
from pathlib import Path

REGION = "cn-hangzhou"


def request(
    addr: str, host: str, ca_file: str, method: str, path: str, body: bytes | None = None
) -> tuple[int, bytes]:
    ctx = ssl.create_default_context(cafile=ca_file)
    conn = http.client.HTTPSConnection(addr, 443, context=ctx, timeout=30)
    try:
        now = time.gmtime()
        headers = {
            "Host": host,
            "X-Amz-Date": time.strftime("%Y%m%dT%H%M%SZ", now),
            "X-Amz-Content-Sha256": "UNSIGNED-PAYLOAD",
            "Authorization": (
                "AWS4-HMAC-SHA256 Credential=LTAILABACCESSKEYID00/"
                f"{time.strftime('%Y%m%d', now)}/{REGION}/s3/aws4_request, "
                "SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature=" + "0" * 64
            ),
        }
        if body is not None:
            headers["Content-Type"] = "application/octet-stream"
        conn.request(method, urllib.parse.quote(path), body=body, headers=headers)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def main(argv: list[str]) -> int:
    addr, host, ca_file, op, *rest = argv[1:]
    if op == "create-bucket":
        bucket, region = rest
        body = (
            '<CreateBucketConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
            f"<LocationConstraint>{region}</LocationConstraint></CreateBucketConfiguration>"
        ).encode()
        status, data = request(addr, host, ca_file, "PUT", f"/{bucket}", body)
    elif op == "put":
        bucket, key, file = rest
        status, data = request(
            addr, host, ca_file, "PUT", f"/{bucket}/{key}", Path(file).read_bytes()
        )
    elif op == "delete":
        bucket, key = rest
        status, data = request(addr, host, ca_file, "DELETE", f"/{bucket}/{key}")
        status = 200 if status == 204 else status
    elif op == "get":
        bucket, key, file = rest
        status, data = request(addr, host, ca_file, "GET", f"/{bucket}/{key}")
        if status == 200:
            Path(file).write_bytes(data)
    else:
        raise SystemExit(f"unknown operation {op}")
    if status != 200:
        sys.stderr.write(f"{op}: HTTP {status}: {data[:500]!r}\n")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
