"""Runs JQL against a Sextant server with `mixpanel-utils` (query_jql, query_jql_events,
query_jql_people), the way a user of that library would.

Usage: mixpanel_utils_jql.py BASE_URL PROJECT_SECRET
Prints {"by_name": ..., "by_name_csv": ..., "events": ..., "people": ...} as JSON.
"""

import json
import logging
import sys

from mixpanel_utils import MixpanelUtils

base, secret = sys.argv[1:3]
logging.disable(logging.WARNING)

m = MixpanelUtils(secret)
# The one change a user makes: the Query API's base URL points at Sextant.
m.formatted_api = f"{base}/api"
by_name = m.query_jql(
    "function main() { return Events({from_date: params.from, to_date: params.to})"
    ".groupBy(['name'], mixpanel.reducer.count()); }",
    params={"from": "2024-01-01", "to": "2024-01-03"},
)
by_name_csv = m.query_jql(
    "function main() { return Events({from_date: params.from, to_date: params.to})"
    ".groupBy(['name'], mixpanel.reducer.count()); }",
    params={"from": "2024-01-01", "to": "2024-01-03"},
    format="csv",
)
events = m.query_jql_events(
    "2024-01-01", "2024-01-03", event_selectors=[{"event": "purchase"}], output_properties=["amount"]
)
people = m.query_jql_people(user_selectors='user["plan"] == "pro"', output_properties=["plan"])
print(json.dumps({"by_name": by_name, "by_name_csv": by_name_csv, "events": events, "people": people}))
