"""Mixpanel's ingestion spec, completed with the answers its own parameters promise.

Usage: complete_spec.py IN.yaml OUT.yaml

The spec documents one 200 answer for /track, /engage and /groups (`Received`: text/plain
`1` or `0`), yet describes parameters that change it:
- `verbose=1`: "a JSON Object ... with two keys: `status` ... and `error`";
- `callback=fn`: "a `content-type: text/javascript` with a body that calls a function";
- `img=1`: "a 1x1 transparent pixel image";
- `strict=1` on /engage and /groups: "a JSON object with per-record error messages for
  records that fail validation", which Sextant answers in /import's documented strict
  shapes (`StrictReceived` with 200, `StrictInvalid` with 400).
This adds exactly those to the responses and changes nothing else, so every other
status, content type and body is checked as Mixpanel published it.
"""

import copy
import sys

import yaml

spec = yaml.safe_load(open(sys.argv[1]))
responses = spec["components"]["responses"]
received = responses["Received"]["content"]
verbose = {
    "type": "object",
    "required": ["status", "error"],
    "properties": {"status": {"type": "integer", "enum": [0, 1]}, "error": {"type": ["string", "null"]}},
}
received["application/json"] = {"schema": verbose}
received["text/javascript"] = {"schema": {"type": "string"}}
received["image/gif"] = {"schema": {"type": "string", "format": "binary"}}
strict_received = responses["StrictReceived"]["content"]["application/json"]["schema"]
for path, operations in spec["paths"].items():
    if path.startswith(("/engage", "/groups")):
        for operation in operations.values():
            ok = copy.deepcopy(responses["Received"])
            ok["content"]["application/json"]["schema"] = {"anyOf": [verbose, strict_received]}
            operation["responses"]["200"] = ok
            operation["responses"]["400"] = {"$ref": "#/components/responses/StrictInvalid"}
yaml.safe_dump(spec, open(sys.argv[2], "w"), sort_keys=False)
