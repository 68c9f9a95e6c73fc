//! A deterministic event generator for report tests and benchmarks: a realistic mix of
//! event names (a few common, many rare), power-law user activity, 20 to 50 properties
//! per event, about 1% duplicate copies (same `$insert_id`), spread over a time range.

use sextant_model::{EventRow, ProjectId};

/// splitmix64: small, fast, and the same sequence everywhere.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Roughly Zipf over `0..n`: small values far more likely.
    pub fn zipf(&mut self, n: u64) -> u64 {
        let u = self.unit();
        ((n as f64).powf(u) - 1.0).floor().min((n - 1) as f64) as u64
    }
}

pub const EVENTS: [&str; 12] = [
    "Page View",
    "Play",
    "Search",
    "Add to Cart",
    "Sign Up",
    "Purchase",
    "Share",
    "Comment",
    "Logout",
    "Invite",
    "Upgrade",
    "Refund",
];
pub const PLANS: [&str; 4] = ["free", "pro", "team", "enterprise"];
pub const BROWSERS: [&str; 5] = ["Chrome", "Safari", "Firefox", "Edge", "Opera"];
pub const COUNTRIES: [&str; 8] = ["US", "FR", "DE", "GB", "IN", "BR", "JP", "CA"];

/// What to generate: `events` events of `project` between `from_ms` and `to_ms` by
/// `users` users, from `seed`.
#[derive(Clone, Copy)]
pub struct Spec {
    pub project: ProjectId,
    pub events: u64,
    pub users: u64,
    pub from_ms: i64,
    pub to_ms: i64,
    pub seed: u64,
}

/// The events of `spec`, in `batch`-sized chunks handed to `sink`.
pub fn generate(spec: &Spec, batch: usize, mut sink: impl FnMut(Vec<EventRow>)) {
    let Spec { project, events: n, users, from_ms, to_ms, seed } = *spec;
    let mut rng = Rng::new(seed);
    let span = (to_ms - from_ms).max(1) as u64;
    let mut rows = Vec::with_capacity(batch);
    let mut last: Option<EventRow> = None;
    for i in 0..n {
        // About 1% of rows are a retried copy of the previous event.
        if let Some(prev) = &last
            && rng.below(100) == 0
        {
            rows.push(prev.clone());
        } else {
            let event = EVENTS[rng.zipf(EVENTS.len() as u64) as usize];
            let user = rng.zipf(users);
            let time_ms = from_ms + rng.below(span) as i64;
            let mut props = serde_json::Map::new();
            props.insert("$browser".into(), BROWSERS[rng.zipf(5) as usize].into());
            props.insert("mp_country_code".into(), COUNTRIES[rng.zipf(8) as usize].into());
            if rng.below(10) < 9 {
                props.insert("plan".into(), PLANS[rng.zipf(4) as usize].into());
            }
            props.insert("amount".into(), serde_json::json!((rng.below(10_000) as f64) / 100.0));
            props.insert("items".into(), serde_json::json!(rng.below(12)));
            props.insert("premium".into(), serde_json::json!(rng.below(4) == 0));
            let extra = 14 + rng.below(31);
            for k in 0..extra {
                let v = match k % 3 {
                    0 => serde_json::json!(format!("v{}", rng.below(50))),
                    1 => serde_json::json!(rng.below(1000)),
                    _ => serde_json::json!(rng.below(2) == 0),
                };
                props.insert(format!("p{k}"), v);
            }
            let row = EventRow {
                project_id: project,
                event: event.to_string(),
                time_ms,
                distinct_id: format!("user{user}"),
                insert_id: format!("i{i}"),
                properties: serde_json::Value::Object(props).to_string(),
            };
            last = Some(row.clone());
            rows.push(row);
        }
        if rows.len() == batch {
            sink(std::mem::replace(&mut rows, Vec::with_capacity(batch)));
        }
    }
    if !rows.is_empty() {
        sink(rows);
    }
}
