//! Any body sent to `/track`, `/import`, `/engage` or `/groups`: decoding, splitting and
//! normalising each record never panics, whatever the content type, and every record
//! either passes or fails with a field named.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sextant_ingest::{
    Endpoint, IngestContext, ProfileKind, decode_request, normalize_event, normalize_profile_update, split_records,
};

const NOW_MS: i64 = 1_700_000_000_000;

fuzz_target!(|data: &[u8]| {
    // The first byte picks the content type and the endpoint; the rest is the body.
    let Some((&choice, body)) = data.split_first() else { return };
    let content_type = match choice % 5 {
        0 => Some("application/json"),
        1 => Some("application/x-www-form-urlencoded"),
        2 => Some("application/x-ndjson"),
        3 => Some("text/plain"),
        _ => None,
    };
    let query = if choice & 0x80 != 0 { Some("verbose=1&ip=1&strict=1") } else { None };
    let decoded = decode_request(query, content_type, body);
    let Ok(payload) = decoded.payload else { return };
    let Ok(records) = split_records(&payload) else { return };
    let endpoint = match (choice >> 3) % 3 {
        0 => Endpoint::Track,
        1 => Endpoint::Import { strict: true },
        _ => Endpoint::Import { strict: false },
    };
    let ctx = IngestContext {
        endpoint,
        now_ms: NOW_MS,
        api_endpoint: "api.example.com".into(),
        client_ip: Some("203.0.113.9".into()),
        use_ip: choice & 0x40 != 0,
        geo: None,
    };
    for raw in records {
        match normalize_event(raw.get(), &ctx) {
            Ok(_) => {}
            Err(e) => assert!(!e.field.is_empty(), "a refusal names its field"),
        }
        for kind in [ProfileKind::User, ProfileKind::Group] {
            let _ = normalize_profile_update(raw.get(), kind, NOW_MS);
        }
    }
});
