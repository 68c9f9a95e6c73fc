//! How to store event properties: JSON text or DuckDB's VARIANT (shredded on checkpoint).
//!
//! Run: `cargo bench -p sextant-storage-duckdb --bench property_storage [-- ROWS]`
//! (default 1,000,000 rows of realistic browser-SDK properties). Prints a table:
//! load time, size on disk after a checkpoint, and the time of queries that read one
//! or two properties, for each layout. The chosen layout is the one `schema.rs` uses.

use std::time::Instant;

const SOURCES: [&str; 3] = ["google", "newsletter", "twitter"];
const PLANS: [&str; 3] = ["free", "pro", "enterprise"];

use duckdb::{Connection, params};

fn props(i: usize) -> String {
    let browsers = ["Chrome", "Safari", "Firefox", "Edge"];
    let oses = ["Mac OS X", "Windows", "iOS", "Android", "Linux"];
    serde_json::json!({
        "$browser": browsers[i % 4], "$browser_version": 120 + (i % 7), "$os": oses[i % 5],
        "$current_url": format!("https://shop.example.com/products/{}?ref=home", i % 500),
        "$initial_referrer": "https://www.google.com/", "$screen_height": 1080, "$screen_width": 1920,
        "mp_lib": "web", "$lib_version": "2.60.0", "utm_source": SOURCES[i % 3],
        "utm_campaign": format!("spring-{}", i % 12), "plan": PLANS[i % 3],
        "price": (i % 100) as f64 * 1.25, "items": [format!("sku-{}", i % 50)], "logged_in": i.is_multiple_of(2),
        "$mp_api_endpoint": "api.example.com", "$mp_api_timestamp_ms": 1_700_000_000_000i64 + i as i64,
    })
    .to_string()
}

fn time<T>(f: impl FnOnce() -> T) -> (T, f64) {
    let t = Instant::now();
    let v = f();
    (v, t.elapsed().as_secs_f64())
}

fn main() {
    let rows: usize = std::env::args().skip(1).find_map(|a| a.parse().ok()).unwrap_or(1_000_000);
    let dir = tempfile::tempdir().unwrap();
    println!("{rows} rows, {} bytes of JSON properties per row", props(1).len());
    println!(
        "| layout  | load s | rows/s    | MB on disk | plan='pro' s | group by $browser s | sum(price) by utm_source s |"
    );
    println!(
        "|---------|--------|-----------|------------|--------------|---------------------|----------------------------|"
    );
    for layout in ["JSON", "VARIANT"] {
        let path = dir.path().join(format!("{layout}.duckdb"));
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(&format!(
            "CREATE TABLE staging (id BIGINT, properties VARCHAR);
             CREATE TABLE events (id BIGINT, properties {layout});"
        ))
        .unwrap();
        let (_, load) = time(|| {
            for chunk in (0..rows).collect::<Vec<_>>().chunks(2000) {
                conn.execute_batch("BEGIN").unwrap();
                if layout == "JSON" {
                    let mut app = conn.appender("events").unwrap();
                    for &i in chunk {
                        app.append_row(params![i as i64, props(i)]).unwrap();
                    }
                } else {
                    {
                        let mut app = conn.appender("staging").unwrap();
                        for &i in chunk {
                            app.append_row(params![i as i64, props(i)]).unwrap();
                        }
                    }
                    conn.execute_batch(
                        "INSERT INTO events SELECT id, properties::JSON::VARIANT FROM staging; DELETE FROM staging;",
                    )
                    .unwrap();
                }
                conn.execute_batch("COMMIT").unwrap();
            }
            conn.execute_batch("DROP TABLE staging; CHECKPOINT").unwrap();
        });
        let size = std::fs::metadata(&path).unwrap().len() as f64 / 1e6;
        let (plan, browser, price) = if layout == "JSON" {
            ("properties->>'plan'", "properties->>'$.\"$browser\"'", "TRY_CAST(properties->>'price' AS DOUBLE)")
        } else {
            ("properties.plan::VARCHAR", "properties['$browser']::VARCHAR", "TRY_CAST(properties.price AS DOUBLE)")
        };
        let q = |sql: String| time(|| conn.query_row(&sql, [], |r| r.get::<_, i64>(0)).unwrap()).1;
        let q1 = q(format!("SELECT count(*) FROM events WHERE {plan} = 'pro'"));
        let q2 = q(format!("SELECT count(*) FROM (SELECT {browser} b, count(*) FROM events GROUP BY 1)"));
        let source = if layout == "JSON" { "properties->>'utm_source'" } else { "properties.utm_source::VARCHAR" };
        let q3 = q(format!("SELECT count(*) FROM (SELECT {source}, sum({price}) FROM events GROUP BY 1)"));
        println!(
            "| {layout:<7} | {load:>6.2} | {:>9.0} | {size:>10.1} | {q1:>12.3} | {q2:>19.3} | {q3:>26.3} |",
            rows as f64 / load
        );
    }
}
