#!/usr/bin/env python3
"""boto3 half of scripts/e2e-versioning.sh.

Against S3_ENDPOINT with AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY from the environment:
  - user metadata names, Expires and Content-Encoding exactly as stored, read from the raw
    response (http.client keeps header names as the server wrote them);
  - 2,500 versions of 50 keys listed with boto3's ListObjectVersions paginator: every version
    once, keys ascending, each key's versions newest first, one IsLatest per key;
  - delete markers in the listing and the 404 of a deleted key naming its marker.
Exits non-zero on the first failure.
"""

import concurrent.futures
import http.client
import os
import sys
import urllib.parse

import boto3
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config

ENDPOINT = os.environ["S3_ENDPOINT"]
REGION = os.environ.get("AWS_DEFAULT_REGION", "us-east-1")
KEYS, PER_KEY = 50, 50  # 2,500 versions


def check(cond, what):
    if not cond:
        print("FAIL:", what, file=sys.stderr)
        sys.exit(1)


def raw_request(session, method, path, headers=None, body=b""):
    """A SigV4-signed request sent with http.client; returns status and the raw header list."""
    url = ENDPOINT + path
    req = AWSRequest(method=method, url=url, data=body, headers=headers or {})
    req.headers["X-Amz-Content-SHA256"] = "UNSIGNED-PAYLOAD"
    SigV4Auth(session.get_credentials(), "s3", REGION).add_auth(req)
    u = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(u.netloc, timeout=60)
    target = u.path + ("?" + u.query if u.query else "")
    conn.request(method, target, body=body, headers=dict(req.headers.items()))
    resp = conn.getresponse()
    resp.read()
    conn.close()
    return resp.status, resp.getheaders()


def main():
    session = boto3.session.Session()
    s3 = session.client("s3", endpoint_url=ENDPOINT, region_name=REGION,
                        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 2}))
    s3.create_bucket(Bucket="pyver")
    s3.put_bucket_versioning(Bucket="pyver", VersioningConfiguration={"Status": "Enabled"})

    # Exact metadata: names lower case as stored, values and Expires/Content-Encoding as sent.
    s3.put_object(Bucket="pyver", Key="meta", Body=b"m", Metadata={"Color": "blue", "camelKey": "V a l"},
                  ContentEncoding="deflate, gzip", ContentLanguage="fr",
                  Expires="Wed, 01 Dec 2094 16:00:00 GMT")
    status, headers = raw_request(session, "HEAD", "/pyver/meta")
    check(status == 200, "HEAD meta: %d" % status)
    got = {(k, v) for k, v in headers}
    for want in [("x-amz-meta-color", "blue"), ("x-amz-meta-camelkey", "V a l"),
                 ("Content-Encoding", "deflate, gzip"), ("Content-Language", "fr"),
                 ("Expires", "Wed, 01 Dec 2094 16:00:00 GMT")]:
        check(want in got, "raw header %s: %s in %s" % (want[0], want[1], sorted(got)))
    head = s3.head_object(Bucket="pyver", Key="meta")
    check(head["Metadata"] == {"color": "blue", "camelkey": "V a l"}, "boto3 metadata %r" % head["Metadata"])
    print("   ok: exact metadata (raw headers and boto3)")

    # 2,500 versions of 50 keys.
    keys = ["key-%02d" % i for i in range(KEYS)]

    def put(job):
        key, n = job
        return key, s3.put_object(Bucket="pyver", Key=key, Body=("%s v%d" % (key, n)).encode())["VersionId"]

    written = {k: [] for k in keys}
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        # Each key's versions are written in order, keys in parallel.
        for n in range(PER_KEY):
            for key, vid in pool.map(put, [(k, n) for k in keys]):
                written[key].append(vid)
    total = sum(len(v) for v in written.values())
    check(total == KEYS * PER_KEY, "%d versions written" % total)

    def listing(page_size):
        pages, entries = 0, []
        paginator = s3.get_paginator("list_object_versions")
        for page in paginator.paginate(Bucket="pyver", Prefix="key-", PaginationConfig={"PageSize": page_size}):
            pages += 1
            n = len(page.get("Versions", [])) + len(page.get("DeleteMarkers", []))
            check(n <= page_size, "page of %d entries with page size %d" % (n, page_size))
            for v in page.get("Versions", []):
                entries.append((v["Key"], v["VersionId"], v["IsLatest"], False))
            for m in page.get("DeleteMarkers", []):
                entries.append((m["Key"], m["VersionId"], m["IsLatest"], True))
        return pages, entries

    for page_size in (333, 1000):
        pages, entries = listing(page_size)
        check(len(entries) == total, "page size %d: %d entries, want %d" % (page_size, len(entries), total))
        check(pages >= total // page_size, "page size %d: only %d pages" % (page_size, pages))
        by_key = {}
        for key, vid, latest, _ in entries:
            by_key.setdefault(key, []).append((vid, latest))
        check(sorted(by_key) == keys, "keys listed: %s" % sorted(by_key)[:5])
        for key in keys:
            got = by_key[key]
            check([v for v, _ in got] == list(reversed(written[key])),
                  "%s: versions not newest first or not all listed" % key)
            check([latest for _, latest in got] == [True] + [False] * (PER_KEY - 1), "%s: IsLatest %r" % (key, got[:2]))
        print("   ok: %d versions in %d pages of %d (paginator)" % (len(entries), pages, page_size))

    # Delete markers: ten keys deleted; the listing shows a latest marker first for each.
    deleted = keys[:10]
    resp = s3.delete_objects(Bucket="pyver", Delete={"Objects": [{"Key": k} for k in deleted]})
    markers = {d["Key"]: d["DeleteMarkerVersionId"] for d in resp["Deleted"] if d.get("DeleteMarker")}
    check(sorted(markers) == deleted, "markers made: %s" % sorted(markers))
    _, entries = listing(500)
    check(len(entries) == total + 10, "%d entries with markers" % len(entries))
    latest_markers = {k: v for k, v, latest, is_marker in entries if latest and is_marker}
    check(latest_markers == markers, "latest markers %s" % latest_markers)
    status, headers = raw_request(session, "GET", "/pyver/" + deleted[0])
    h = {k.lower(): v for k, v in headers}
    check(status == 404 and h.get("x-amz-delete-marker") == "true" and h.get("x-amz-version-id") == markers[deleted[0]],
          "GET of a deleted key: %d %s" % (status, h))
    # Undelete by removing the marker.
    s3.delete_object(Bucket="pyver", Key=deleted[0], VersionId=markers[deleted[0]])
    body = s3.get_object(Bucket="pyver", Key=deleted[0])["Body"].read()
    check(body == ("%s v%d" % (deleted[0], PER_KEY - 1)).encode(), "undeleted key reads %r" % body)
    print("   ok: delete markers listed, 404 names the marker, undelete")


if __name__ == "__main__":
    main()
