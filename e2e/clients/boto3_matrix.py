#!/usr/bin/env python3
"""boto3's rows of NebulaIO's client matrix (run by main.go with -boto3).

boto3 with its default configuration (checksum settings included) against S3_ENDPOINT, with
AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_DEFAULT_REGION from the environment. Prints one
line per check: ROW <tab> client <tab> operation <tab> PASS|FAIL|SKIP <tab> detail. Every object
written is read back and compared; checksums are compared with values computed here. Checks
that the installed botocore cannot run (CRC32C and CRC64NVME need awscrt, ChecksumType needs
botocore >= 1.36) are SKIP with the reason.
"""

import base64
import hashlib
import http.client
import io
import os
import random
import sys
import time
import traceback
import urllib.parse
import urllib.request
import zlib

import boto3
import botocore
from botocore.config import Config
from botocore.exceptions import ClientError

ENDPOINT = os.environ["S3_ENDPOINT"]
MAX_SIZE = int(os.environ.get("MATRIX_MAX_SIZE", str(70 << 20)))
MiB = 1 << 20


class Skip(Exception):
    """A check this botocore cannot run."""


def emit(client, op, result, detail):
    detail = " ".join(str(detail).split())
    print("ROW\t%s\t%s\t%s\t%s" % (client, op, result, detail), flush=True)


def check(client, op, fn):
    start = time.time()
    try:
        fn()
    except Skip as e:
        emit(client, op, "SKIP", e)
    except Exception as e:  # every failure is a row, never a crash of the script
        where = traceback.extract_tb(e.__traceback__)[-1]
        emit(client, op, "FAIL", "%s: %s (line %d)" % (type(e).__name__, e, where.lineno))
    else:
        emit(client, op, "PASS", "%dms" % ((time.time() - start) * 1000))


def payload(n, seed):
    return random.Random(seed).randbytes(n)


def known_seed(size):
    """The payload seed of the known-<size> objects, which later checks copy."""
    return size + 1


def size_name(n):
    if n >= MiB and n % MiB == 0:
        return "%dMiB" % (n // MiB)
    return "%dB" % n


def b64(raw):
    return base64.b64encode(raw).decode()


def _crc_table(poly):
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ poly if c & 1 else c >> 1
        table.append(c)
    return table


# Reflected CRCs with all-ones init and final XOR, table-driven (the oracle for the checksums
# botocore computes only with awscrt): CRC-32C and CRC-64/NVME.
_CRC32C = _crc_table(0x82F63B78)
_CRC64NVME = _crc_table(0x9A6C9329AC4BC9B5)


def _crc(table, mask, data):
    c = mask
    for b in data:
        c = table[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ mask


def digest(alg, data):
    if alg == "CRC32":
        return (zlib.crc32(data) & 0xFFFFFFFF).to_bytes(4, "big")
    if alg == "CRC32C":
        return _crc(_CRC32C, 0xFFFFFFFF, data).to_bytes(4, "big")
    if alg == "CRC64NVME":
        return _crc(_CRC64NVME, 0xFFFFFFFFFFFFFFFF, data).to_bytes(8, "big")
    if alg == "SHA1":
        return hashlib.sha1(data).digest()
    return hashlib.sha256(data).digest()


def composite(alg, data, part):
    raws = b"".join(digest(alg, data[o:o + part]) for o in range(0, max(len(data), 1), part))
    return "%s-%d" % (b64(digest(alg, raws)), max(1, -(-len(data) // part)))


def has_crt():
    try:
        import awscrt  # noqa: F401
    except ImportError:
        return False
    return True


def expect(what, got, want):
    if got != want:
        raise AssertionError("%s: got %r, want %r" % (what, got, want))


def expect_code(fn, code):
    try:
        fn()
    except ClientError as e:
        expect("error code", e.response["Error"]["Code"], code)
        return
    raise AssertionError("no error, want %s" % code)


class Unseekable(io.RawIOBase):
    """A stream of unknown length: read() only."""

    def __init__(self, data):
        self.buf = io.BytesIO(data)

    def readable(self):
        return True

    def readinto(self, b):
        chunk = self.buf.read(len(b))
        b[: len(chunk)] = chunk
        return len(chunk)


def http_put(url, data):
    """PUT data to a presigned URL with no headers but Content-Length (urllib would add a
    Content-Type, which SigV2 signs)."""
    u = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(u.netloc, timeout=60)
    conn.request("PUT", u.path + "?" + u.query, body=data, headers={"Content-Length": str(len(data))})
    resp = conn.getresponse()
    body = resp.read()
    conn.close()
    if resp.status != 200:
        raise AssertionError("presigned PUT: %d %s" % (resp.status, body[:200]))


def client(**cfg):
    return boto3.client("s3", endpoint_url=ENDPOINT, config=Config(**cfg) if cfg else None)


def add_header(s3, op, name, value):
    """Send an extra header on one operation (for parameters this botocore lacks)."""

    def hook(request, **kwargs):
        request.headers[name] = value

    s3.meta.events.register("before-sign.s3.%s" % op, hook)
    return hook


def read_back(s3, bucket, key, data):
    got = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    expect("GET %s length" % key, len(got), len(data))
    if got != data:
        raise AssertionError("GET %s: bytes differ" % key)
    head = s3.head_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")
    expect("HEAD %s length" % key, head["ContentLength"], len(data))
    return head


def main():
    version = "boto3 %s" % boto3.__version__
    name = "boto3"
    s3 = client()
    bucket = "boto3-%d" % (int(time.time() * 1000) % 10**9)
    check(name, "create bucket (%s, botocore %s)" % (version, botocore.__version__), lambda: s3.create_bucket(Bucket=bucket))

    for size in (s for s in (0, 1, MiB, 17 * MiB, 70 * MiB) if s <= MAX_SIZE):
        data = payload(size, known_seed(size))

        def put_get(size=size, data=data):
            s3.put_object(Bucket=bucket, Key="known-%d" % size, Body=data)
            read_back(s3, bucket, "known-%d" % size, data)

        check(name, "put+get %s (default checksum)" % size_name(size), put_get)

    for i, size in enumerate(s for s in (0, MiB, 17 * MiB, 70 * MiB) if s <= MAX_SIZE):
        data = payload(size, 700 + i)

        def stream(size=size, data=data):
            key = "stream-%d" % size
            s3.upload_fileobj(Unseekable(data), bucket, key)
            out = io.BytesIO()
            s3.download_fileobj(bucket, key, out)  # ranged GETs for large objects
            if out.getvalue() != data:
                raise AssertionError("download_fileobj: bytes differ")
            read_back(s3, bucket, key, data)

        check(name, "upload_fileobj %s (unknown size) + download_fileobj" % size_name(size), stream)

    small = payload(300000, 801)
    for alg in ("CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256"):

        def put_sum(alg=alg):
            want = b64(digest(alg, small))
            if alg in ("CRC32C", "CRC64NVME") and not has_crt():
                # botocore computes these only with awscrt: send the value computed here.
                try:
                    s3.put_object(Bucket=bucket, Key="small-" + alg, Body=small, **{"Checksum" + alg: want})
                except botocore.exceptions.ParamValidationError as e:
                    raise Skip("botocore %s has no Checksum%s parameter (%s)" % (botocore.__version__, alg, e))
            else:
                s3.put_object(Bucket=bucket, Key="small-" + alg, Body=small, ChecksumAlgorithm=alg)
            head = read_back(s3, bucket, "small-" + alg, small)
            expect(alg, head.get("Checksum" + alg), want)

        check(name, "checksum %s (header)" % alg, put_sum)

    big = payload(11 * MiB, 802)
    for alg, typ in (("CRC32", "COMPOSITE"), ("SHA256", "COMPOSITE"), ("SHA1", "COMPOSITE"), ("CRC32", "FULL_OBJECT")):

        def multipart(alg=alg, typ=typ):
            key = "mp-%s-%s" % (typ, alg)
            hook = add_header(s3, "CreateMultipartUpload", "x-amz-checksum-type", typ)
            try:
                up = s3.create_multipart_upload(Bucket=bucket, Key=key, ChecksumAlgorithm=alg)
            finally:
                s3.meta.events.unregister("before-sign.s3.CreateMultipartUpload", hook)
            parts = []
            for n, off in enumerate(range(0, len(big), 5 * MiB), start=1):
                out = s3.upload_part(Bucket=bucket, Key=key, UploadId=up["UploadId"], PartNumber=n,
                                     Body=big[off:off + 5 * MiB], ChecksumAlgorithm=alg)
                parts.append({"PartNumber": n, "ETag": out["ETag"], "Checksum" + alg: out["Checksum" + alg]})
            s3.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=up["UploadId"], MultipartUpload={"Parts": parts})
            head = read_back(s3, bucket, key, big)
            want = composite(alg, big, 5 * MiB) if typ == "COMPOSITE" else b64(digest(alg, big))
            expect("%s %s" % (typ, alg), head.get("Checksum" + alg), want)
            if "ChecksumType" in head:
                expect("checksum type", head["ChecksumType"], typ)

        check(name, "multipart %s %s" % (typ, alg), multipart)

    data = payload(MiB, 803)

    def ranges():
        s3.put_object(Bucket=bucket, Key="ranged", Body=data)
        n = len(data)
        for spec, want in (("bytes=0-0", data[:1]), ("bytes=100-199", data[100:200]), ("bytes=-50", data[n - 50:]),
                           ("bytes=1000-", data[1000:])):
            expect(spec, s3.get_object(Bucket=bucket, Key="ranged", Range=spec)["Body"].read(), want)
        expect_code(lambda: s3.get_object(Bucket=bucket, Key="ranged", Range="bytes=%d-" % (n + 1)), "InvalidRange")

    check(name, "ranges", ranges)

    def copies():
        s3.copy_object(Bucket=bucket, Key="copied", CopySource={"Bucket": bucket, "Key": "ranged"})
        read_back(s3, bucket, "copied", data)

    check(name, "copy", copies)
    if MAX_SIZE >= 17 * MiB:
        def multipart_copy():
            s3.copy({"Bucket": bucket, "Key": "known-%d" % (17 * MiB)}, bucket, "copied-big")  # UploadPartCopy above 8 MiB
            read_back(s3, bucket, "copied-big", payload(17 * MiB, known_seed(17 * MiB)))

        check(name, "multipart copy (s3transfer, UploadPartCopy)", multipart_copy)

    def presigned():
        put = s3.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "presigned"}, ExpiresIn=60)
        http_put(put, data)
        get = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "presigned"}, ExpiresIn=60)
        expect("presigned GET", urllib.request.urlopen(get).read(), data)

    check(name, "presigned PUT and GET", presigned)

    def delete_objects():
        keys = ["del/%d" % i for i in range(5)]
        for k in keys:
            s3.put_object(Bucket=bucket, Key=k, Body=b"x")
        objs = [{"Key": k} for k in keys + ["del/1", "del/missing"]]
        out = s3.delete_objects(Bucket=bucket, Delete={"Objects": objs})
        expect("deleted", sorted(d["Key"] for d in out.get("Deleted", [])), sorted(keys + ["del/missing"]))
        expect("errors", out.get("Errors", []), [])
        s3.put_object(Bucket=bucket, Key="del/again", Body=b"x")
        out = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "del/again"}], "Quiet": True})
        expect("quiet", out.get("Deleted", []) + out.get("Errors", []), [])
        expect("left", s3.list_objects_v2(Bucket=bucket, Prefix="del/").get("KeyCount"), 0)

    check(name, "multi-object delete (verbose, quiet)", delete_objects)

    def list_uploads():
        ids = {}
        for k in ("mpu/a/1", "mpu/a/2", "mpu/b/1", "mpu/top"):
            ids[k] = s3.create_multipart_upload(Bucket=bucket, Key=k)["UploadId"]
        try:
            out = s3.list_multipart_uploads(Bucket=bucket, Prefix="mpu/", Delimiter="/")
            expect("uploads", [u["Key"] for u in out.get("Uploads", [])], ["mpu/top"])
            expect("prefixes", [p["Prefix"] for p in out.get("CommonPrefixes", [])], ["mpu/a/", "mpu/b/"])
        finally:
            for k, u in ids.items():
                s3.abort_multipart_upload(Bucket=bucket, Key=k, UploadId=u)

    check(name, "list multipart uploads (prefix, delimiter)", list_uploads)

    def language():
        s3.put_object(Bucket=bucket, Key="lang", Body=b"hej", ContentLanguage="sv")
        expect("Content-Language", s3.head_object(Bucket=bucket, Key="lang").get("ContentLanguage"), "sv")

    check(name, "Content-Language", language)
    check(name, "storage class GLACIER refused",
          lambda: expect_code(lambda: s3.put_object(Bucket=bucket, Key="cold", Body=b"x", StorageClass="GLACIER"), "InvalidStorageClass"))

    eu = boto3.client("s3", endpoint_url=ENDPOINT, region_name="eu-central-1")
    eu_bucket = bucket + "-eu"

    def region():
        eu.create_bucket(Bucket=eu_bucket, CreateBucketConfiguration={"LocationConstraint": "eu-central-1"})
        eu.put_object(Bucket=eu_bucket, Key="k", Body=data)
        read_back(eu, eu_bucket, "k", data)
        expect("location", s3.get_bucket_location(Bucket=eu_bucket).get("LocationConstraint"), "eu-central-1")
        url = eu.generate_presigned_url("get_object", Params={"Bucket": eu_bucket, "Key": "k"}, ExpiresIn=60)
        if "X-Amz-Signature=" not in url:
            raise AssertionError("not a SigV4 URL: " + url)
        expect("presigned SigV4 GET", urllib.request.urlopen(url).read(), data)

    check("boto3 eu-central-1", "create bucket, put+get, location, presigned GET", region)

    v2 = client(signature_version="s3")

    def sigv2():
        v2.put_object(Bucket=bucket, Key="v2 key+", Body=data, ContentType="text/x")
        read_back(v2, bucket, "v2 key+", data)
        url = v2.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "v2 key+"}, ExpiresIn=60)
        if "AWSAccessKeyId=" not in url:
            raise AssertionError("not a SigV2 URL: " + url)
        expect("presigned SigV2 GET", urllib.request.urlopen(url).read(), data)

    check("boto3 sigv2", "put+get, presigned GET", sigv2)


if __name__ == "__main__":
    main()
