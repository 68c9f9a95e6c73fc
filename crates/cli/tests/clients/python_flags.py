"""The official Python SDK's feature-flag providers against Sextant's HTTPS listener.

usage: python_flags.py local|remote|exposure HOST:PORT TOKEN CONTEXTS.json

- local: `LocalFeatureFlagsProvider` fetches /flags/definitions once and evaluates
  every context itself (`get_all_variants`, no exposure events);
- remote: `RemoteFeatureFlagsProvider.get_all_variants` asks /flags for each context;
- exposure: `get_variant` on the remote provider for each context's first flag key
  (`FLAG_KEY` in the context file's entries), which tracks `$experiment_started`
  through the SDK's own consumer, here pointed at Sextant.

Prints, for each context, {flag key: [variant_key, variant_value, experiment_id,
is_experiment_active]} as JSON. The certificate authority comes from SSL_CERT_FILE
(httpx) and REQUESTS_CA_BUNDLE (the event consumer).
"""

import json
import logging
import sys

from mixpanel import Consumer, Mixpanel
from mixpanel.flags.types import LocalFlagsConfig, RemoteFlagsConfig, SelectedVariant


def shown(variants):
    return {
        key: [v.variant_key, v.variant_value, v.experiment_id, v.is_experiment_active]
        for key, v in variants.items()
    }


def main():
    # The providers log a warning for every flag whose context key a context lacks:
    # a hundred thousand contexts would spend their time writing them.
    logging.disable(logging.WARNING)
    mode, host, token, path = sys.argv[1:5]
    with open(path) as f:
        entries = json.load(f)
    consumer = Consumer(api_host=host)
    if mode == "local":
        mp = Mixpanel(token, consumer=consumer, local_flags_config=LocalFlagsConfig(api_host=host, enable_polling=False))
        provider = mp.local_flags
        provider.start_polling_for_definitions()
        if not provider.are_flags_ready():
            sys.exit("the definitions were not fetched")
        out = [shown(provider.get_all_variants(e["context"])) for e in entries]
    elif mode == "remote":
        mp = Mixpanel(token, consumer=consumer, remote_flags_config=RemoteFlagsConfig(api_host=host))
        out = [shown(mp.remote_flags.get_all_variants(e["context"])) for e in entries]
    elif mode == "exposure":
        mp = Mixpanel(token, consumer=consumer, remote_flags_config=RemoteFlagsConfig(api_host=host))
        out = []
        for e in entries:
            fallback = SelectedVariant(variant_value="fallback")
            v = mp.remote_flags.get_variant(e["flag_key"], fallback, e["context"])
            out.append({e["flag_key"]: [v.variant_key, v.variant_value, v.experiment_id, v.is_experiment_active]})
    else:
        sys.exit(f"unknown mode {mode}")
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
