#!/usr/bin/env python3
"""Writes the HTML page of scripts/e2e-governance.sh's browser upload.

    e2e_post_form.py BUCKET OUT.html [EXPIRES_IN]

The page holds a form for a POST upload to BUCKET on S3_ENDPOINT whose policy boto3 signs
(generate_presigned_post, SigV4): keys under uploads/ with ${filename}, text/plain, 1 byte to
1 MiB, x-amz-meta-origin: browser, answer 201. When the page loads, its script puts a file
(hello-browser.txt, the text FILE_TEXT from the environment) into the form's file input,
as a user picking it would, and submits the form: the browser itself builds and sends the
multipart/form-data request. EXPIRES_IN (seconds, default 600) may be negative: a policy
that has already expired.
"""

import html
import json
import os
import sys

import boto3
from botocore.config import Config


def main():
    bucket, out = sys.argv[1], sys.argv[2]
    expires = int(sys.argv[3]) if len(sys.argv) > 3 else 600
    s3 = boto3.session.Session().client(
        "s3", endpoint_url=os.environ["S3_ENDPOINT"], region_name=os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}))
    fields = {"success_action_status": "201", "Content-Type": "text/plain", "x-amz-meta-origin": "browser"}
    post = s3.generate_presigned_post(
        Bucket=bucket, Key="uploads/${filename}", Fields=fields, ExpiresIn=expires,
        Conditions=[{"success_action_status": "201"}, {"Content-Type": "text/plain"},
                    {"x-amz-meta-origin": "browser"}, ["content-length-range", 1, 1 << 20]])
    inputs = "\n".join('<input type="hidden" name="%s" value="%s">' % (html.escape(k), html.escape(v))
                       for k, v in post["fields"].items())
    page = """<!doctype html>
<html><head><meta charset="utf-8"><title>upload</title></head><body>
<form id="upload" method="post" action="%s" enctype="multipart/form-data">
%s
<input type="file" name="file" id="file">
<input type="submit" value="Upload">
</form>
<script>
const dt = new DataTransfer();
dt.items.add(new File([%s], "hello-browser.txt", {type: "text/plain"}));
document.getElementById("file").files = dt.files;
document.getElementById("upload").submit();
</script>
</body></html>
""" % (html.escape(post["url"]), inputs, json.dumps(os.environ["FILE_TEXT"]))
    with open(out, "w") as f:
        f.write(page)


if __name__ == "__main__":
    main()
