"""Pages through a Sextant server's profiles with `mixpanel-utils` (query_engage).

Usage: mixpanel_utils_engage.py BASE_URL PROJECT_SECRET [WHERE]
mixpanel-utils fetches page 0, then computes ceil(total / page_size) pages and fetches
the rest concurrently with page 0's session_id. Prints the distinct ids it received.
"""

import json
import logging
import sys

from mixpanel_utils import MixpanelUtils

base, secret = sys.argv[1:3]
where = sys.argv[3] if len(sys.argv) > 3 else None
logging.disable(logging.WARNING)

m = MixpanelUtils(secret, read_pool_size=4)
# The one change a user makes: the Query API's base URL points at Sextant.
m.formatted_api = f"{base}/api"
params = {"where": where} if where else {}
profiles = m.query_engage(params)
print(json.dumps([p["$distinct_id"] for p in profiles]))
