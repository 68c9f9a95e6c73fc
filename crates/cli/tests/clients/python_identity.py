"""Calls `alias` and `merge` of the official `mixpanel` Python package against Sextant.

Usage: python_identity.py BASE_URL TOKEN SA_USERNAME SA_SECRET PROJECT_ID
`alias` always posts through a new default Consumer (https://api.mixpanel.com); the
script points that default at the server, as a proxy or DNS entry would.
"""

import mixpanel
from mixpanel import Consumer, Mixpanel, ServiceAccountCredentials
import sys

base, token, sa_user, sa_secret, project_id = sys.argv[1:6]

_Consumer = Consumer
mixpanel.Consumer = lambda *a, **k: _Consumer(events_url=f"{base}/track", import_url=f"{base}/import")

creds = ServiceAccountCredentials(username=sa_user, secret=sa_secret, project_id=project_id)
mp = Mixpanel(token, consumer=Consumer(events_url=f"{base}/track", import_url=f"{base}/import", credentials=creds))
mp.track("py-original-user", "Before alias", {"step": 1})
mp.alias("py-alias@example.com", "py-original-user")
mp.track("py-alias@example.com", "After alias", {"step": 2})
mp.track("py-other-user", "Other", {"step": 3})
mp.merge(None, "py-original-user", "py-other-user")
print("[]")
