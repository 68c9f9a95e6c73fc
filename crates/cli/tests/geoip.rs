//! Geolocation: a server started with a MaxMind City database (written here with
//! `mmdb-writer`, in GeoIP2-City's layout) places events and profiles by IP address.

mod common;

use common::*;
use serde_json::{Value, json};

/// A City database: 81.2.69.0/24 is London, 127.0.0.0/8 (the test's own requests) Paris.
fn city_database(dir: &std::path::Path) -> std::path::PathBuf {
    let place = |city: &str, region: &str, country: &str, tz: &str| {
        json!({
            "city": {"names": {"en": city}},
            "subdivisions": [{"names": {"en": region}}],
            "country": {"iso_code": country},
            "location": {"time_zone": tz},
        })
    };
    let mut writer = mmdb_writer::Writer::new("GeoIP2-City");
    let london = place("London", "England", "GB", "Europe/London");
    let paris = place("Paris", "Île-de-France", "FR", "Europe/Paris");
    writer.insert("81.2.69.0/24".parse::<ipnet::IpNet>().unwrap(), &london).unwrap();
    writer.insert("127.0.0.0/8".parse::<ipnet::IpNet>().unwrap(), &paris).unwrap();
    let path = dir.join("city.mmdb");
    std::fs::write(&path, writer.to_bytes().unwrap()).unwrap();
    path
}

fn by_insert_id(events: &[Value]) -> std::collections::HashMap<String, Value> {
    events
        .iter()
        .map(|e| (e["properties"]["$insert_id"].as_str().unwrap().to_string(), e["properties"].clone()))
        .collect()
}

#[tokio::test]
async fn events_and_profiles_are_placed_by_ip_address() {
    let db_dir = tempfile::tempdir().unwrap();
    let db = city_database(db_dir.path());
    let places = db_dir.path().join("places.csv");
    std::fs::write(
        &places,
        "latitude,longitude,city,region,country_code,timezone\n\
         51.5074,-0.1278,London,England,GB,Europe/London\n\
         -33.8688,151.2093,Sydney,New South Wales,AU,Australia/Sydney\n",
    )
    .unwrap();
    let s = TestServer::start_with_config(&format!(
        "geoip_database = {:?}\nplaces_database = {:?}\n",
        db.display().to_string(),
        places.display().to_string()
    ));
    let now = now_ms();
    let ev = |id: &str, props: Value| {
        let mut p = props;
        p["distinct_id"] = json!("u1");
        p["time"] = json!(now);
        p["$insert_id"] = json!(id);
        json!({"event": "Geo", "properties": p})
    };
    s.import_ok(&[
        ev("g1", json!({"ip": "81.2.69.160"})),
        ev("g2", json!({"ip": "81.2.69.160", "$city": "Leeds"})),
        ev("g3", json!({"ip": "0"})),
        ev("g4", json!({})),
        ev("g6", json!({"ip": "81.2.69.160", "$latitude": -33.9, "$longitude": 151.1})),
    ])
    .await;
    // The browser SDK's way: `ip=1` and no `ip` property, so the request's address.
    let track = json!([ev("g5", json!({"token": s.creds.token}))]);
    let r = s.http.post(s.url("/track?ip=1")).json(&track).send().await.unwrap();
    assert_eq!(r.text().await.unwrap(), "1");

    let events = by_insert_id(&s.export("").await);
    let g1 = &events["g1"];
    assert_eq!(
        (&g1["$city"], &g1["$region"], &g1["mp_country_code"]),
        (&json!("London"), &json!("England"), &json!("GB"))
    );
    assert!(g1.get("ip").is_none(), "the address is not stored: {g1}");
    assert_eq!((&events["g2"]["$city"], &events["g2"]["mp_country_code"]), (&json!("Leeds"), &json!("GB")));
    assert!(events["g3"].get("$city").is_none(), "ip 0 skips: {}", events["g3"]);
    assert!(events["g4"].get("$city").is_none(), "no ip and no ip=1: {}", events["g4"]);
    assert_eq!((&events["g5"]["$city"], &events["g5"]["mp_country_code"]), (&json!("Paris"), &json!("FR")));
    // Coordinates win over the address: the nearest known place.
    assert_eq!((&events["g6"]["$city"], &events["g6"]["mp_country_code"]), (&json!("Sydney"), &json!("AU")));

    // Profiles: `$ip` names the address, else the request's (unless ip=0); only updates
    // that set something are placed, and the update's own values win.
    let t = &s.creds.token;
    let updates = json!([
        {"$token": t, "$distinct_id": "p1", "$ip": "81.2.69.160", "$set": {"plan": "pro"}},
        {"$token": t, "$distinct_id": "p2", "$ip": "81.2.69.160", "$set": {"$city": "Bath"}},
        {"$token": t, "$distinct_id": "p3", "$ip": "81.2.69.160", "$add": {"n": 1}},
        {"$token": t, "$distinct_id": "p4", "$set": {"plan": "free"}},
        {"$token": t, "$distinct_id": "p5", "$ip": "0", "$set": {"plan": "free"}},
        {"$token": t, "$distinct_id": "p7", "$ip": "81.2.69.160", "$latitude": -33.7, "$longitude": "151.3",
         "$set": {"plan": "pro"}},
    ]);
    let r = s.http.post(s.url("/engage")).json(&updates).send().await.unwrap();
    assert_eq!(r.text().await.unwrap(), "1");
    let r = s
        .http
        .post(s.url("/engage?ip=0"))
        .json(&json!([{"$token": t, "$distinct_id": "p6", "$set": {"plan": "free"}}]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.text().await.unwrap(), "1");
    let profile = |id: &'static str| {
        let s = &s;
        async move {
            let r = s
                .http
                .post(s.url("/api/query/engage"))
                .basic_auth(&s.creds.secret, Some(""))
                .form(&[("distinct_id", id)])
                .send()
                .await
                .unwrap();
            let body: Value = r.json().await.unwrap();
            body["results"][0]["$properties"].clone()
        }
    };
    let p1 = profile("p1").await;
    assert_eq!(
        (&p1["$city"], &p1["$region"], &p1["$country_code"], &p1["$timezone"], &p1["plan"]),
        (&json!("London"), &json!("England"), &json!("GB"), &json!("Europe/London"), &json!("pro"))
    );
    let p2 = profile("p2").await;
    assert_eq!((&p2["$city"], &p2["$country_code"]), (&json!("Bath"), &json!("GB")));
    assert!(profile("p3").await.get("$city").is_none(), "an $add alone is not placed");
    assert_eq!(profile("p4").await["$city"], "Paris", "the request's address");
    assert!(profile("p5").await.get("$city").is_none(), "$ip 0 skips");
    assert!(profile("p6").await.get("$city").is_none(), "ip=0 skips");
    let p7 = profile("p7").await;
    assert_eq!(
        (&p7["$city"], &p7["$region"], &p7["$timezone"], &p7["$geo_source"]),
        (&json!("Sydney"), &json!("New South Wales"), &json!("Australia/Sydney"), &json!("reverse_geocoding"))
    );
    assert!(p1.get("$geo_source").is_none(), "placed by address: {p1}");
}

#[test]
fn an_unreadable_database_stops_the_server_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("not.mmdb");
    std::fs::write(&bad, b"not a database").unwrap();
    // The server refuses to start; its message on stderr.
    let refused = |flag: &str, file: &std::path::Path| {
        let out = std::process::Command::new(binary())
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(dir.path().join("data"))
            .arg(flag)
            .arg(file)
            .output()
            .unwrap();
        assert!(!out.status.success());
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let stderr = refused("--geoip-db", &bad);
    assert!(stderr.contains("GeoIP or places database") && stderr.contains("not.mmdb"), "{stderr}");

    let places = dir.path().join("places.csv");
    std::fs::write(&places, "latitude,longitude,city\nnorth,0,Nowhere\n").unwrap();
    let stderr = refused("--places-db", &places);
    assert!(stderr.contains("places.csv") && stderr.contains("row 2"), "{stderr}");
}
