"""Sends events to a Sextant server with the official `mixpanel` Python package.

Usage: python_sdk.py BASE_URL TOKEN PROJECT_ID SA_USERNAME SA_SECRET PROJECT_SECRET
Prints, as JSON on stdout, the events it sent, for the Rust test to compare with
what /api/2.0/export returns.
"""

import datetime
import json
import sys
import time

from mixpanel import Consumer, Mixpanel, ServiceAccountCredentials

base, token, project_id, sa_user, sa_secret, project_secret = sys.argv[1:7]

sent = []

# /track through the default Consumer, pointed at the server by full URLs.
plain = Mixpanel(token, consumer=Consumer(events_url=f"{base}/track", import_url=f"{base}/import"))
for i in range(5):
    props = {
        "seq": f"py-track-{i}",
        "plan": "pro" if i % 2 else "free",
        "amount": i * 1.5,
        "count": i,
        "flag": i % 2 == 0,
        "tags": ["a", "b", i],
        "nested": {"k": "v", "n": i},
        "missing": None,
        "unicode": "caf\u00e9 \u2713",
    }
    plain.track(f"user-{i}", "Python Track", props)
    sent.append({"endpoint": "track", "event": "Python Track", "distinct_id": f"user-{i}", "properties": props})

# A datetime property goes through the SDK's DatetimeSerializer.
when = datetime.datetime(2024, 5, 6, 7, 8, 9)
plain.track("user-dt", "Python Track", {"seq": "py-track-dt", "signed_up": when})
sent.append({"endpoint": "track", "event": "Python Track", "distinct_id": "user-dt",
             "properties": {"seq": "py-track-dt", "signed_up": "2024-05-06T07:08:09"}})

# /import with service-account credentials (the SDK's recommended form).
credentials = ServiceAccountCredentials(username=sa_user, secret=sa_secret, project_id=project_id)
importer = Mixpanel(token, consumer=Consumer(import_url=f"{base}/import", credentials=credentials))
old = int(time.time()) - 30 * 86400
for i in range(3):
    props = {"seq": f"py-import-{i}", "source": "backfill"}
    importer.import_data(None, f"old-user-{i}", "Python Import", old + i, props)
    sent.append({"endpoint": "import", "event": "Python Import", "distinct_id": f"old-user-{i}",
                 "time": old + i, "properties": props})

# /import with the legacy project secret.
legacy = Mixpanel(token, consumer=Consumer(import_url=f"{base}/import"))
legacy.import_data("unused-api-key", "legacy-user", "Python Legacy Import", old, {"seq": "py-legacy"},
                   api_secret=project_secret)
sent.append({"endpoint": "import", "event": "Python Legacy Import", "distinct_id": "legacy-user",
             "time": old, "properties": {"seq": "py-legacy"}})

print(json.dumps(sent))
