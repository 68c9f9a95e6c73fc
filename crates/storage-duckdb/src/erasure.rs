//! Removing people (GDPR deletions), and making what was removed unrecoverable.
//!
//! [`erase`] runs on the writer thread, in one transaction: the events of the ids in
//! both tiers, their user profiles, identity memberships and engage snapshot rows, and
//! a row in `erasures` naming the step with what it removed and the days it touched, so
//! a step run again (a job resumed after a crash) removes nothing more and answers the
//! same counts, and the scrub rebuilds those days' timelines once for the whole job
//! ([`days_of`]): a step of 100 people touches most days, and rebuilding them after
//! each step made a 1,000-person job over 1M events take 134 s.
//!
//! A `DELETE` in DuckDB only marks rows: the values stay in their blocks, in the
//! column statistics (a segment's and a table's min and max, which a delete never
//! narrows), and, once blocks are freed, in free blocks that nothing overwrites.
//! Measured on DuckDB 2.0 with a unique marker in 50 of 600,000 rows: after
//! `DELETE` and `CHECKPOINT` every copy of the marker was still in the file; after
//! rewriting only the row groups that held them, the table statistics still held it.
//! So [`scrub`] copies each table that held personal data into a new table (fresh
//! blocks, fresh statistics) and drops the old one, then fills every free block and
//! every free metadata block with filler and checkpoints, so the freed blocks are
//! overwritten; the filler is then dropped. The test (`crates/cli/tests/gdpr.rs`)
//! searches every byte of the data directory for the removed people's markers.
//!
//! DuckDB writes blocks whole, and some segments leave bytes they never set (see
//! [`FILLER_ROW`]): those bytes hold whatever the buffer held before. The filler is
//! shaped to leave none; a block of a live table written while the removed rows were
//! still in memory can carry some of them, which only a later rewrite of that block
//! clears. The byte-search test has not found one; it is the known limit of this rule.

use duckdb::{Connection, params};
use sextant_model::profile::USER_PROFILES;

/// Creates the table of steps done.
pub fn migrate(conn: &Connection) -> duckdb::Result<()> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS erasures (job VARCHAR NOT NULL, step BIGINT NOT NULL, project_id BIGINT NOT NULL,
                                              events BIGINT NOT NULL, profiles BIGINT NOT NULL, days VARCHAR NOT NULL)",
    )
}

/// What a step removed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Done {
    /// Events removed.
    pub events: i64,
    /// User profiles removed.
    pub profiles: i64,
}

/// What a step removed, if it was done.
pub fn done(conn: &Connection, job: &str, step: i64) -> duckdb::Result<Option<Done>> {
    let mut stmt = conn.prepare_cached("SELECT events, profiles FROM erasures WHERE job = ? AND step = ?")?;
    let mut rows = stmt.query(params![job, step])?;
    match rows.next()? {
        Some(row) => Ok(Some(Done { events: row.get(0)?, profiles: row.get(1)? })),
        None => Ok(None),
    }
}

/// Every day (day number) the steps of `job` removed cold rows from, each once.
pub fn days_of(conn: &Connection, job: &str) -> duckdb::Result<Vec<i64>> {
    let mut stmt = conn.prepare("SELECT days FROM erasures WHERE job = ?")?;
    let lists: Vec<String> = stmt.query_map([job], |r| r.get(0))?.collect::<duckdb::Result<_>>()?;
    let days: std::collections::BTreeSet<i64> =
        lists.iter().flat_map(|l| l.split(',')).filter_map(|d| d.parse().ok()).collect();
    Ok(days.into_iter().collect())
}

/// One erasure step, for the writer thread.
pub struct Step {
    /// The project.
    pub project: i64,
    /// The job.
    pub job: String,
    /// Which step of it.
    pub step: i64,
    /// The ids whose rows go.
    pub ids: Vec<String>,
}

/// Removes the step's rows inside a transaction of its own; a step already done is
/// left as it was. The ids are widened to every id now in their clusters, inside the
/// transaction: an id merged into one of them after the job fixed its list goes too.
/// Holds [`crate::profiles::SNAPSHOTS`], so no engage snapshot taken before the commit
/// copies a profile the step removes.
pub fn erase(conn: &Connection, step: &Step) -> duckdb::Result<()> {
    let _no_snapshot_meanwhile = crate::profiles::SNAPSHOTS.write();
    if conn.execute_batch("BEGIN TRANSACTION").is_err() {
        let _ = conn.execute_batch("ROLLBACK");
        conn.execute_batch("BEGIN TRANSACTION")?;
    }
    let result = (|| {
        if done(conn, &step.job, step.step)?.is_some() {
            return Ok(());
        }
        let p = step.project;
        crate::identity::fill_keys(conn, step.ids.iter().map(String::as_str))?;
        conn.execute(
            "INSERT INTO identity_keys SELECT id FROM identities WHERE project_id = ?
               AND canonical IN (SELECT canonical FROM identities WHERE project_id = ? AND id IN (SELECT id FROM identity_keys))
               AND id NOT IN (SELECT id FROM identity_keys)",
            [p, p],
        )?;
        let hot = conn.execute("DELETE FROM events_hot WHERE project_id = ? AND distinct_id IN (SELECT id FROM identity_keys)", [p])?;
        let mut days: Vec<i64> = conn
            .prepare(
                "DELETE FROM events_cold WHERE project_id = ? AND user_hash IN (SELECT hash(id) FROM identity_keys)
                   AND distinct_id IN (SELECT id FROM identity_keys) RETURNING time_ms // 86400000",
            )?
            .query_map([p], |r| r.get(0))?
            .collect::<duckdb::Result<_>>()?;
        let events = hot as i64 + days.len() as i64;
        days.sort_unstable();
        days.dedup();
        let profiles = conn.execute(
            "DELETE FROM profiles WHERE project_id = ? AND group_key = ? AND id IN (SELECT id FROM identity_keys)",
            params![p, USER_PROFILES],
        )?;
        conn.execute(
            "DELETE FROM identities WHERE project_id = ?
               AND (id IN (SELECT id FROM identity_keys) OR canonical IN (SELECT id FROM identity_keys))",
            [p],
        )?;
        // Every snapshot row of theirs, whatever its session (an id names a person in
        // user snapshots; a group sharing the id loses a cached row, read again later).
        conn.execute("DELETE FROM engage_snapshots WHERE id IN (SELECT id FROM identity_keys)", [])?;
        let days_text = days.iter().map(i64::to_string).collect::<Vec<_>>().join(",");
        conn.execute(
            "INSERT INTO erasures VALUES (?, ?, ?, ?, ?, ?)",
            params![step.job, step.step, p, events, profiles as i64, days_text],
        )?;
        if step.step == 1 {
            crate::pause::point(crate::pause::ERASURE_SECOND_STEP);
        }
        Ok(())
    })()
    .and_then(|()| conn.execute_batch("COMMIT"));
    if result.is_err() {
        let _ = conn.execute_batch("ROLLBACK");
    }
    result
}

/// The tables the writer thread writes that hold personal data: rebuilt on it, so no
/// append races the copy.
pub const WRITER_TABLES: [&str; 4] = ["events_hot", "profiles", "identities", "engage_snapshots"];

/// Copies `table` into a new table with the same definition and replaces it, in the
/// current transaction: new blocks and statistics that never saw the removed rows.
pub fn rebuild_table(conn: &Connection, table: &str) -> duckdb::Result<()> {
    let ddl: String = conn.query_row(
        "SELECT sql FROM duckdb_tables() WHERE table_name = ? AND database_name = current_database()
           AND schema_name = 'main'",
        [table],
        |r| r.get(0),
    )?;
    let fresh = format!("{table}__scrub");
    // The stored definition starts `CREATE TABLE name(`; the copy takes a new name.
    let Some(columns) = ddl.strip_prefix(&format!("CREATE TABLE {table}")) else {
        return Err(duckdb::Error::InvalidParameterName(format!("unexpected definition of {table}: {ddl}")));
    };
    conn.execute_batch(&format!(
        "DROP TABLE IF EXISTS {fresh};
         CREATE TABLE {fresh}{columns}
         INSERT INTO {fresh} SELECT * FROM {table};
         DROP TABLE {table};
         ALTER TABLE {fresh} RENAME TO {table};"
    ))
}

/// Rebuilds `tables` in one transaction; with `engage_snapshots` among them, holding
/// [`crate::profiles::SNAPSHOTS`] (no snapshot is written into a table being replaced).
pub fn rebuild_tables(conn: &Connection, tables: &[&str]) -> duckdb::Result<()> {
    let _no_snapshot_meanwhile = tables.contains(&"engage_snapshots").then(|| crate::profiles::SNAPSHOTS.write());
    if conn.execute_batch("BEGIN TRANSACTION").is_err() {
        let _ = conn.execute_batch("ROLLBACK");
        conn.execute_batch("BEGIN TRANSACTION")?;
    }
    let result = tables.iter().try_for_each(|t| rebuild_table(conn, t)).and_then(|()| conn.execute_batch("COMMIT"));
    if result.is_err() {
        let _ = conn.execute_batch("ROLLBACK");
    }
    result
}

/// Bytes of filler a row. DuckDB writes a block's whole buffer, and an uncompressed
/// string segment at least 80% full is written as it is, with the bytes between its
/// offsets and its strings never set: whatever the memory held before, which can be
/// rows of the people just removed (with 4,000-byte rows, 3 of 5 runs of a test
/// left removed values in filler blocks). A 2,060-byte row takes 2,064 bytes with
/// its offset, and 127 of them plus the 8-byte header fill a 256 KiB block's
/// 262,136 usable bytes exactly.
const FILLER_ROW: i64 = 2_060;

/// DuckDB's rows per row group: each row group's last segment is a short one.
const ROW_GROUP: i64 = 122_880;

/// How many filler rows cover `blocks` blocks of `block_size` bytes with segments
/// that leave no unset bytes: full ones, and at each row group's end a short one that
/// DuckDB compacts into a shared block and zeroes around (below 80% of a block).
fn filler_rows(blocks: i64, block_size: i64) -> duckdb::Result<(i64, i64)> {
    let usable = block_size - 8;
    let per_block = (usable - 8) / (FILLER_ROW + 4);
    if (usable - 8) % (FILLER_ROW + 4) != 0 {
        return Err(duckdb::Error::InvalidParameterName(format!("no gapless filler row for {block_size}-byte blocks")));
    }
    let needed = blocks * per_block + 1;
    let (groups, rest) = (needed / ROW_GROUP, needed % ROW_GROUP);
    let rest = (rest + per_block - 1) / per_block * per_block;
    let rows = if rest <= ROW_GROUP { groups * ROW_GROUP + rest } else { (groups + 1) * ROW_GROUP };
    Ok((rows, per_block))
}

/// Whether a filler segment of `count` rows leaves bytes DuckDB never set: neither
/// full nor compacted.
fn leaves_gap(count: i64, per_block: i64, block_size: i64) -> bool {
    let compacted_below = (block_size - 8) / 5 * 4;
    count != per_block && 8 + count * (FILLER_ROW + 4) >= compacted_below
}

/// Checkpoints, retrying while another transaction is writing (the writer's commits,
/// or a reader from before a table was replaced), for at most `patience`.
fn checkpoint(conn: &Connection, patience: std::time::Duration) -> duckdb::Result<()> {
    let deadline = std::time::Instant::now() + patience;
    loop {
        match conn.execute_batch("CHECKPOINT") {
            Ok(()) => return Ok(()),
            Err(e) if std::time::Instant::now() >= deadline => return Err(e),
            Err(_) => std::thread::sleep(std::time::Duration::from_millis(200)),
        }
    }
}

/// Overwrites every free block and free metadata block of the database file with
/// filler, then frees them again: what deleted rows and replaced tables left in them
/// is gone. Returns how many blocks and metadata blocks were overwritten.
pub fn overwrite_free_blocks(conn: &Connection, patience: std::time::Duration) -> duckdb::Result<(i64, i64)> {
    checkpoint(conn, patience)?;
    let (free, block_size): (i64, i64) = conn.query_row(
        "SELECT free_blocks::BIGINT, block_size::BIGINT FROM pragma_database_size()
         WHERE database_name = current_database()",
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    let free_meta: i64 =
        conn.query_row("SELECT coalesce(sum(free_blocks), 0)::BIGINT FROM pragma_metadata_info()", [], |r| r.get(0))?;
    let (rows, per_block) = filler_rows(free, block_size)?;
    // Catalog entries are written into metadata blocks: one long-named table fills one.
    let meta_tables = free_meta + 8;
    let long_name = "f".repeat(3_900);
    let drop_filler = || -> duckdb::Result<()> {
        conn.execute_batch("DROP TABLE IF EXISTS scrub_filler")?;
        for i in 0..meta_tables {
            conn.execute_batch(&format!("DROP TABLE IF EXISTS scrub_meta_{i}"))?;
        }
        Ok(())
    };
    let filled = (|| {
        conn.execute_batch(&format!(
            "DROP TABLE IF EXISTS scrub_filler;
             CREATE TABLE scrub_filler (b VARCHAR USING COMPRESSION UNCOMPRESSED);
             INSERT INTO scrub_filler SELECT repeat('0', {FILLER_ROW}) FROM range({rows});"
        ))?;
        for i in 0..meta_tables {
            conn.execute_batch(&format!("CREATE TABLE IF NOT EXISTS scrub_meta_{i} (\"{long_name}{i}\" INTEGER)"))?;
        }
        checkpoint(conn, patience)?;
        let counts: Vec<i64> = conn
            .prepare("SELECT count::BIGINT FROM pragma_storage_info('scrub_filler') WHERE segment_type = 'VARCHAR'")?
            .query_map([], |r| r.get(0))?
            .collect::<duckdb::Result<_>>()?;
        match counts.iter().find(|c| leaves_gap(**c, per_block, block_size)) {
            Some(c) => Err(duckdb::Error::InvalidParameterName(format!(
                "a filler segment of {c} rows leaves unset bytes; the free blocks are not known to be overwritten"
            ))),
            None => Ok(()),
        }
    })();
    // The filler goes whatever happened: it is as large as the free space.
    let dropped = drop_filler();
    filled?;
    dropped?;
    checkpoint(conn, patience)?;
    Ok((free, free_meta))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filler_segments_are_full_or_compacted() {
        const BLOCK: i64 = 262_144;
        for blocks in [0, 1, 7, 967, 968, 1_000, 1_935, 5_000, 100_000] {
            let (rows, per_block) = filler_rows(blocks, BLOCK).unwrap();
            assert_eq!(per_block, 127);
            assert!(rows >= blocks * per_block, "{blocks} blocks, {rows} rows");
            // The segments DuckDB cuts: full ones, and each row group's remainder.
            let mut left = rows;
            while left > 0 {
                let group = left.min(ROW_GROUP);
                let last = group % per_block;
                assert!(last == 0 || !leaves_gap(last, per_block, BLOCK), "{blocks} blocks: a last segment of {last}");
                left -= group;
            }
        }
        assert!(leaves_gap(112, 127, BLOCK) && !leaves_gap(71, 127, BLOCK) && !leaves_gap(127, 127, BLOCK));
    }
}
