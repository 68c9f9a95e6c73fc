//! The kinds of value each top-level event property has held in the cold tier, per
//! project and event name, learned when a query first needs them.
//!
//! A compiled `on` or `where` must test each value's type (a property may hold a string
//! in one event and a number in the next), and DuckDB's `variant_typeof` decodes the
//! value to answer: on 10M events, a segmentation by a string property spent about
//! four fifths of its time in type tests. Knowing that `plan` has only ever held strings
//! in `Play` events, the compiler reads it as text with no test
//! (`sextant_expr::sql::Columns::kinds`).
//!
//! Rows in the cold tier never change and arrive in sequence order, so the kinds of a
//! (project, event, name) are kept with the sequence number they cover up to: a query
//! reads the rows past it (zone maps skip the rest), inside the query's own transaction,
//! so what it learns covers exactly the rows it then reads. The first query for a name
//! reads that event's values once; the next ones read only what the compactor moved
//! since. What queries learned is saved by the compactor (table `property_kinds`, at its
//! next tick and when the store closes) and loaded when the store opens, so a restart
//! does not pay the first reading again (100M events: a segmentation by a string
//! property took 4.8 s on its first run, 0.8 s after). The hot tier is not covered (its
//! rows are few and are read with full type tests).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use duckdb::Connection;
use parking_lot::Mutex;
use sextant_expr::sql::{Kind, KindSet};

use crate::interpreted::quote;

/// Names a query asks about at most; more are read with type tests.
const MAX_NAMES: usize = 16;

/// Known kinds, by (project, event, property name): the kinds of its values in cold rows
/// with a sequence number up to the second field.
#[derive(Default)]
pub struct KindCache {
    known: Mutex<HashMap<Key, (KindSet, i64)>>,
    /// Entries learned since the last [`KindCache::save`].
    unsaved: Mutex<HashSet<Key>>,
}

/// (project, event, property name).
type Key = (i64, String, String);

/// Creates the table of saved kinds when missing.
pub fn migrate(conn: &Connection) -> duckdb::Result<()> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS property_kinds (project_id BIGINT NOT NULL, event VARCHAR NOT NULL,
             name VARCHAR NOT NULL, kinds UTINYINT NOT NULL, covered_seq BIGINT NOT NULL,
             PRIMARY KEY (project_id, event, name))",
    )
}

impl KindCache {
    /// Forgets a deleted project's kinds, learned and unsaved (so a save cannot write
    /// them back).
    pub fn forget(&self, project: i64) {
        self.known.lock().retain(|(p, _, _), _| *p != project);
        self.unsaved.lock().retain(|(p, _, _)| *p != project);
    }

    /// The kinds saved in `conn`'s store, whose last sequence number is `last_seq`. An
    /// entry covering sequence numbers past it is dropped: those numbers may be given
    /// again to other rows (after a deletion of the newest rows), which the entry has
    /// not seen.
    pub fn load(conn: &Connection, last_seq: i64) -> duckdb::Result<KindCache> {
        let mut stmt = conn
            .prepare("SELECT project_id, event, name, kinds, covered_seq FROM property_kinds WHERE covered_seq <= ?")?;
        let rows = stmt.query_map([last_seq], |r| {
            Ok(((r.get(0)?, r.get(1)?, r.get(2)?), (KindSet::from_bits(r.get(3)?), r.get(4)?)))
        })?;
        let known = rows.collect::<duckdb::Result<HashMap<Key, (KindSet, i64)>>>()?;
        Ok(KindCache { known: Mutex::new(known), unsaved: Mutex::default() })
    }

    /// Brings every known entry up to the cold tier's last row, for the compactor to call
    /// after a move: otherwise the first queries after it each read the moved rows'
    /// kinds themselves, at once. In the mixed-load bench (`crates/cli/benches`) that
    /// was every segmentation slower than 0.7 s: up to 3.3 s of a 3.6-s answer, while
    /// funnels (which need no kinds) stayed under 0.7 s. Returns the entries it read.
    pub fn refresh(&self, conn: &Connection) -> duckdb::Result<usize> {
        // Names by (project, event): only pairs already known, so a refresh never starts
        // reading a pair from the beginning of the cold tier.
        let mut wanted: HashMap<(i64, String), Vec<String>> = HashMap::new();
        for (project, event, name) in self.known.lock().keys() {
            wanted.entry((*project, event.clone())).or_default().push(name.clone());
        }
        let mut read = 0;
        for ((project, event), names) in wanted {
            for names in names.chunks(MAX_NAMES) {
                // One transaction: the last sequence number and the rows agree.
                conn.execute_batch("BEGIN TRANSACTION")?;
                let learned = self.of(conn, project, std::slice::from_ref(&event), names);
                let _ = conn.execute_batch("COMMIT");
                learned?;
                read += names.len();
            }
        }
        Ok(read)
    }

    /// Writes what was learned since the last save, in one transaction of `conn`.
    pub fn save(&self, conn: &Connection) -> duckdb::Result<usize> {
        let keys: Vec<Key> = self.unsaved.lock().drain().collect();
        if keys.is_empty() {
            return Ok(0);
        }
        let entries: Vec<(Key, (KindSet, i64))> = {
            let known = self.known.lock();
            keys.iter().filter_map(|k| known.get(k).map(|v| (k.clone(), *v))).collect()
        };
        let written = (|| {
            conn.execute_batch("BEGIN TRANSACTION")?;
            let mut stmt = conn.prepare("INSERT OR REPLACE INTO property_kinds VALUES (?, ?, ?, ?, ?)")?;
            for ((project, event, name), (kinds, covered)) in &entries {
                stmt.execute(duckdb::params![project, event, name, kinds.bits(), covered])?;
            }
            conn.execute_batch("COMMIT")
        })();
        if let Err(e) = written {
            let _ = conn.execute_batch("ROLLBACK");
            // Kept for the next save.
            self.unsaved.lock().extend(keys);
            return Err(e);
        }
        Ok(entries.len())
    }

    /// The kinds `names` hold in `events` of `project` across the cold tier, as `conn`'s
    /// transaction sees it. Call inside the transaction that then reads the rows.
    pub fn of(
        &self,
        conn: &Connection,
        project: i64,
        events: &[String],
        names: &[String],
    ) -> duckdb::Result<Arc<HashMap<String, KindSet>>> {
        if events.is_empty() || names.is_empty() || names.len() > MAX_NAMES {
            return Ok(Arc::default());
        }
        let upto: i64 = conn.query_row("SELECT coalesce(max(seq), 0) FROM events_cold", [], |r| r.get(0))?;
        let from = {
            let known = self.known.lock();
            events
                .iter()
                .flat_map(|e| names.iter().map(move |n| (e, n)))
                .map(|(e, n)| known.get(&(project, e.clone(), n.clone())).map_or(0, |k| k.1))
                .min()
                .unwrap_or(0)
        };
        if from < upto {
            let learned = read(conn, project, events, names, from, upto)?;
            let mut known = self.known.lock();
            let mut unsaved = self.unsaved.lock();
            for e in events {
                for (i, n) in names.iter().enumerate() {
                    let new = learned.get(e).map_or(KindSet::NONE, |k| k[i]);
                    let entry = known.entry((project, e.clone(), n.clone())).or_insert((KindSet::NONE, 0));
                    // Kinds only accumulate; what was read covers (from, upto], and the
                    // entry covered up to at least `from` when it was read.
                    *entry = (entry.0.union(new), entry.1.max(upto));
                    unsaved.insert((project, e.clone(), n.clone()));
                }
            }
        }
        let known = self.known.lock();
        let mut out = HashMap::new();
        for n in names {
            let mut kinds = KindSet::NONE;
            for e in events {
                match known.get(&(project, e.clone(), n.clone())) {
                    Some((k, covered)) if *covered >= upto => kinds = kinds.union(*k),
                    // Raced with a store whose entry went missing: say nothing.
                    _ => kinds = KindSet::OTHER,
                }
            }
            out.insert(n.clone(), kinds);
        }
        Ok(Arc::new(out))
    }
}

/// The kinds of each of `names` per event, among cold rows with `from < seq <= upto`.
fn read(
    conn: &Connection,
    project: i64,
    events: &[String],
    names: &[String],
    from: i64,
    upto: i64,
) -> duckdb::Result<HashMap<String, Vec<KindSet>>> {
    let types: Vec<String> = names
        .iter()
        .map(|n| {
            format!("CAST(list_distinct(list(variant_typeof(variant_extract(properties, {})))) AS VARCHAR[])", quote(n))
        })
        .collect();
    let in_events: Vec<String> = events.iter().map(|e| quote(e)).collect();
    let sql = format!(
        "SELECT event, {} FROM events_cold
         WHERE project_id = {project} AND event IN ({}) AND seq > {from} AND seq <= {upto} GROUP BY event",
        types.join(", "),
        in_events.join(", ")
    );
    let mut stmt = conn.prepare(&sql)?;
    let mut rows = stmt.query([])?;
    let mut out = HashMap::new();
    while let Some(row) = rows.next()? {
        let event: String = row.get(0)?;
        let mut kinds = Vec::with_capacity(names.len());
        for i in 0..names.len() {
            let list: duckdb::types::Value = row.get(i + 1)?;
            let mut set = KindSet::NONE;
            if let duckdb::types::Value::List(items) = list {
                for item in items {
                    if let duckdb::types::Value::Text(t) = item {
                        set = set.union(kind_of(&t));
                    }
                }
            }
            kinds.push(set);
        }
        out.insert(event, kinds);
    }
    Ok(out)
}

/// A `variant_typeof` name as a kind (`null` and missing alike: none).
fn kind_of(type_name: &str) -> KindSet {
    match type_name {
        "VARIANT_NULL" => KindSet::NONE,
        "VARCHAR" => KindSet::of(Kind::Str),
        "BOOL_TRUE" | "BOOL_FALSE" => KindSet::of(Kind::Bool),
        "INT8" | "INT16" | "INT32" | "INT64" | "UINT8" | "UINT16" | "UINT32" | "UINT64" | "HUGEINT" | "UHUGEINT"
        | "FLOAT" | "DOUBLE" => KindSet::of(Kind::Num),
        t if t.starts_with("ARRAY") => KindSet::of(Kind::List),
        t if t.starts_with("OBJECT") => KindSet::of(Kind::Object),
        _ => KindSet::OTHER,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refresh_brings_known_entries_up_to_the_last_cold_row() {
        let conn = Connection::open_in_memory().unwrap();
        crate::schema::migrate(&conn, "1GB", &std::env::temp_dir().to_string_lossy()).unwrap();
        let add = |seq: i64, properties: &str| {
            conn.execute(
                "INSERT INTO events_cold (project_id, event, time_ms, distinct_id, insert_id, seq, properties)
                 VALUES (1, 'Play', 0, 'u', ?, ?, CAST(?::JSON AS VARIANT))",
                duckdb::params![format!("i{seq}"), seq, properties],
            )
            .unwrap();
        };
        add(1, r#"{"plan": "pro"}"#);
        let cache = KindCache::default();
        let names = ["plan".to_string()];
        let learned = cache.of(&conn, 1, &["Play".to_string()], &names).unwrap();
        assert_eq!(learned["plan"], KindSet::of(Kind::Str));
        add(2, r#"{"plan": 3, "other": true}"#);
        assert_eq!(cache.refresh(&conn).unwrap(), 1);
        let key = (1, "Play".to_string(), "plan".to_string());
        let (kinds, covered) = cache.known.lock()[&key];
        assert_eq!(kinds, KindSet::of(Kind::Str).union(KindSet::of(Kind::Num)));
        assert_eq!(covered, 2);
        // Only what was known is read: no entry for a name no query asked about.
        assert_eq!(cache.known.lock().len(), 1);
    }

    #[test]
    fn type_names_map_to_the_compilers_kinds() {
        let conn = Connection::open_in_memory().unwrap();
        let json =
            r#"{"s":"x","n":1,"d":1.5,"b":true,"f":false,"l":[1],"o":{"k":1},"z":null,"big":12345678901234567890}"#;
        for (name, kind) in [
            ("s", KindSet::of(Kind::Str)),
            ("n", KindSet::of(Kind::Num)),
            ("d", KindSet::of(Kind::Num)),
            ("big", KindSet::of(Kind::Num)),
            ("b", KindSet::of(Kind::Bool)),
            ("f", KindSet::of(Kind::Bool)),
            ("l", KindSet::of(Kind::List)),
            ("o", KindSet::of(Kind::Object)),
            ("z", KindSet::NONE),
            ("missing", KindSet::NONE),
        ] {
            let t: String = conn
                .query_row(
                    &format!("SELECT variant_typeof(variant_extract(CAST('{json}'::JSON AS VARIANT), '{name}'))"),
                    [],
                    |r| r.get(0),
                )
                .unwrap();
            assert_eq!(kind_of(&t), kind, "{name}: {t}");
        }
    }
}
