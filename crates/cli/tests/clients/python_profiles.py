"""Updates user and group profiles with the official `mixpanel` Python package.

Usage: python_profiles.py BASE_URL TOKEN
Prints, as JSON on stdout, what each profile must read back as (without $last_seen):
{"users": {id: properties or null}, "groups": {"key/id": properties or null}}.
"""

import json
import sys

from mixpanel import Consumer, Mixpanel

base, token = sys.argv[1:3]
mp = Mixpanel(token, consumer=Consumer(people_url=f"{base}/engage", groups_url=f"{base}/groups"))

u = "py-user"
mp.people_set(u, {"plan": "pro", "name": "Ada", "tags": ["x"]})
mp.people_set_once(u, {"plan": "ignored", "first_seen": "2024-01-01"})
mp.people_increment(u, {"logins": 3})
mp.people_increment(u, {"logins": -1, "score": 2.5})
mp.people_append(u, {"tags": "y"})
mp.people_union(u, {"tags": ["x", "z"]})
mp.people_remove(u, {"tags": "y"})
mp.people_unset(u, ["first_seen"])
mp.people_track_charge(u, 9.99, {"$time": "2024-02-03T04:05:06"})
mp.people_track_charge(u, 5)
mp.people_clear_charges(u)

gone = "py-gone"
mp.people_set(gone, {"a": 1})
mp.people_delete(gone)

mp.group_set("company", "py-co", {"size": 10, "regions": ["eu"]})
mp.group_set_once("company", "py-co", {"size": 99, "founded": 1999})
mp.group_union("company", "py-co", {"regions": ["us", "eu"]})
mp.group_remove("company", "py-co", {"regions": "eu"})
mp.group_unset("company", "py-co", ["founded"])
mp.group_set("company", "py-gone", {"x": 1})
mp.group_delete("company", "py-gone")

print(json.dumps({
    "users": {
        u: {"plan": "pro", "name": "Ada", "tags": ["x", "z"], "logins": 2, "score": 2.5},
        gone: None,
    },
    "groups": {"company/py-co": {"size": 10, "regions": ["us"]}, "company/py-gone": None},
}))
