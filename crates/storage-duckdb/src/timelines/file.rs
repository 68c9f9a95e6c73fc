//! One day's timeline on disk: a header, the event names, a bucket table and four
//! plain little-endian columns, read through a memory map without parsing.
//!
//! ```text
//! magic "SXTL0004" | project i64 | day i64 | covered_seq i64 | rows u64 | runs u64 | names_len u64
//! names: a JSON array of strings, names_len bytes, padded to 8
//! buckets: u32 x (BUCKETS + 1), padded to 8    runs of bucket b: buckets[b]..buckets[b+1]
//! run_user: u64 x runs | run_end: u32 x runs (padded to 8)
//! copy: u64 x rows | time: u32 x rows (padded to 8) | event: u16 x rows (padded to 8)
//! checksum: u64, the CRC-32 of every byte before it
//! ```
//!
//! The checksum is checked each time a file is opened (at start and after each build),
//! so a file damaged on disk is dropped and rebuilt from DuckDB rather than read: the
//! structural checks alone would pass a flipped bit in a time or an `$insert_id` hash,
//! and a funnel would count it silently. The check reads the file once more at open
//! (`crc32fast`, which uses the CPU's carry-less multiply where there is one): a small
//! cost beside building the file, which reads the day from DuckDB and sorts it. Not
//! measured apart yet.
//!
//! Rows are ordered by (user, time, event, copy). A run is one user's rows: rows
//! `run_end[r - 1]..run_end[r]` (from 0 for the first) belong to `run_user[r]`, so a
//! scan reads a user hash per run, not per row. A run's bucket is the top
//! [`BUCKET_BITS`] bits of its user hash, so each bucket is one contiguous range of runs.

use std::io::Write;
use std::path::Path;

use memmap2::Mmap;

/// Bits of the user hash that pick a bucket.
pub const BUCKET_BITS: u32 = 12;
/// Buckets per day.
pub const BUCKETS: usize = 1 << BUCKET_BITS;
/// Milliseconds in a UTC day.
pub const DAY_MS: i64 = 86_400_000;

const MAGIC: &[u8; 8] = b"SXTL0004";
const HEADER: usize = 56;

/// The bucket of a user hash.
#[inline]
pub fn bucket_of(user: u64) -> usize {
    (user >> (64 - BUCKET_BITS)) as usize
}

/// One event of a day, as the builder collects it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Entry {
    /// Hash of the stored `distinct_id`.
    pub user: u64,
    /// Milliseconds since the day's start.
    pub time: u32,
    /// Index into the day's names.
    pub event: u16,
    /// Hash of the `$insert_id`.
    pub copy: u64,
}

/// Writes a timeline to `path` (through a temporary file renamed over it, so a reader
/// never sees half a file). `entries` must be sorted and without duplicates.
pub fn write(
    path: &Path,
    project: i64,
    day: i64,
    covered_seq: i64,
    names: &[String],
    entries: &[Entry],
) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    if let Err(e) = write_whole(&tmp, project, day, covered_seq, names, entries) {
        // A half-written file (a full disk, say) would hold space until the next start.
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    std::fs::rename(&tmp, path)
}

fn write_whole(
    tmp: &Path,
    project: i64,
    day: i64,
    covered_seq: i64,
    names: &[String],
    entries: &[Entry],
) -> std::io::Result<()> {
    let names_json = serde_json::to_vec(names).map_err(std::io::Error::other)?;
    let mut run_user: Vec<u64> = Vec::new();
    let mut run_end: Vec<u32> = Vec::new();
    for (i, e) in entries.iter().enumerate() {
        if run_user.last() == Some(&e.user) {
            *run_end.last_mut().expect("a run per user") = i as u32 + 1;
        } else {
            run_user.push(e.user);
            run_end.push(i as u32 + 1);
        }
    }
    let mut buckets = vec![0u32; BUCKETS + 1];
    for &u in &run_user {
        buckets[bucket_of(u) + 1] += 1;
    }
    for b in 1..buckets.len() {
        buckets[b] += buckets[b - 1];
    }
    let file = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(tmp)?);
    let mut out = Summed { inner: file, crc: crc32fast::Hasher::new() };
    out.write_all(MAGIC)?;
    for v in [project, day, covered_seq, entries.len() as i64, run_user.len() as i64, names_json.len() as i64] {
        out.write_all(&v.to_le_bytes())?;
    }
    out.write_all(&names_json)?;
    pad(&mut out, names_json.len())?;
    for b in &buckets {
        out.write_all(&b.to_le_bytes())?;
    }
    pad(&mut out, buckets.len() * 4)?;
    for u in &run_user {
        out.write_all(&u.to_le_bytes())?;
    }
    for e in &run_end {
        out.write_all(&e.to_le_bytes())?;
    }
    pad(&mut out, run_end.len() * 4)?;
    for e in entries {
        out.write_all(&e.copy.to_le_bytes())?;
    }
    out.flush()?;
    crate::pause::point(crate::pause::TIMELINE_WRITE);
    for e in entries {
        out.write_all(&e.time.to_le_bytes())?;
    }
    pad(&mut out, entries.len() * 4)?;
    for e in entries {
        out.write_all(&e.event.to_le_bytes())?;
    }
    pad(&mut out, entries.len() * 2)?;
    let Summed { inner: mut file, crc } = out;
    file.write_all(&u64::from(crc.finalize()).to_le_bytes())?;
    file.into_inner().map_err(|e| e.into_error())?.sync_all()
}

/// A writer that keeps the CRC-32 of what passed through it.
struct Summed<W> {
    inner: W,
    crc: crc32fast::Hasher,
}

impl<W: Write> Write for Summed<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.crc.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

fn pad(out: &mut impl Write, written: usize) -> std::io::Result<()> {
    out.write_all(&[0u8; 8][..(8 - written % 8) % 8])
}

fn padded(n: usize) -> usize {
    n.div_ceil(8) * 8
}

/// A mapped timeline file.
pub struct DayFile {
    map: Mmap,
    /// The project.
    pub project: i64,
    /// The UTC day: `time_ms.div_euclid(DAY_MS)`.
    pub day: i64,
    /// Every cold row of this day with `seq <= covered_seq` is in the file.
    pub covered_seq: i64,
    /// Event names, indexed by the `event` column.
    pub names: Vec<String>,
    /// Rows per name.
    pub name_rows: Vec<u64>,
    rows: usize,
    runs: usize,
    buckets_at: usize,
    run_user_at: usize,
    run_end_at: usize,
    copy_at: usize,
    time_at: usize,
    event_at: usize,
}

impl DayFile {
    /// Maps and checks a file written by [`write`].
    pub fn open(path: &Path) -> std::io::Result<DayFile> {
        let file = std::fs::File::open(path)?;
        // SAFETY: timeline files are written whole under another name and renamed into
        // place, never modified afterwards; a rebuild replaces the name, and this map
        // keeps the old file's data alive until it is dropped.
        let map = unsafe { Mmap::map(&file)? };
        let bad =
            |why: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, format!("{}: {why}", path.display()));
        if map.len() < HEADER || &map[..8] != MAGIC {
            return Err(bad("not a timeline file"));
        }
        let field = |i: usize| i64::from_le_bytes(map[8 + 8 * i..16 + 8 * i].try_into().expect("8 bytes"));
        let (project, day, covered_seq) = (field(0), field(1), field(2));
        let sizes = (usize::try_from(field(3)), usize::try_from(field(4)), usize::try_from(field(5)));
        let (Ok(rows), Ok(runs), Ok(names_len)) = sizes else { return Err(bad("bad sizes")) };
        if rows > u32::MAX as usize || runs > rows || names_len > map.len() {
            return Err(bad("bad sizes"));
        }
        let buckets_at = HEADER + padded(names_len);
        let run_user_at = buckets_at + padded((BUCKETS + 1) * 4);
        let run_end_at = run_user_at + runs * 8;
        let copy_at = run_end_at + padded(runs * 4);
        let time_at = copy_at + rows * 8;
        let event_at = time_at + padded(rows * 4);
        let sum_at = event_at + padded(rows * 2);
        if map.len() != sum_at + 8 {
            return Err(bad("truncated"));
        }
        let stored = u64::from_le_bytes(map[sum_at..].try_into().expect("8 bytes"));
        if stored != u64::from(crc32fast::hash(&map[..sum_at])) {
            return Err(bad("checksum mismatch"));
        }
        let names: Vec<String> =
            serde_json::from_slice(&map[HEADER..HEADER + names_len]).map_err(|_| bad("bad names"))?;
        let f = DayFile {
            map,
            project,
            day,
            covered_seq,
            names,
            name_rows: Vec::new(),
            rows,
            runs,
            buckets_at,
            run_user_at,
            run_end_at,
            copy_at,
            time_at,
            event_at,
        };
        let buckets = f.buckets();
        if buckets[BUCKETS] as usize != runs || buckets.windows(2).any(|w| w[0] > w[1]) {
            return Err(bad("bad bucket table"));
        }
        let ends = f.run_end();
        if ends.last().is_some_and(|&e| e as usize != rows) || ends.windows(2).any(|w| w[0] >= w[1]) {
            return Err(bad("bad runs"));
        }
        let mut name_rows = vec![0u64; f.names.len()];
        for &e in f.event() {
            *name_rows.get_mut(e as usize).ok_or_else(|| bad("bad event index"))? += 1;
        }
        Ok(DayFile { name_rows, ..f })
    }

    /// Rows in the file.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// UTC start of the day, ms.
    pub fn start_ms(&self) -> i64 {
        self.day * DAY_MS
    }

    /// Run offsets per bucket (`BUCKETS + 1` entries).
    pub fn buckets(&self) -> &[u32] {
        bytemuck::cast_slice(&self.map[self.buckets_at..self.buckets_at + (BUCKETS + 1) * 4])
    }

    /// Each run's user hash.
    pub fn run_user(&self) -> &[u64] {
        bytemuck::cast_slice(&self.map[self.run_user_at..self.run_end_at])
    }

    /// Each run's end row (exclusive); a run starts where the one before ends.
    pub fn run_end(&self) -> &[u32] {
        bytemuck::cast_slice(&self.map[self.run_end_at..self.run_end_at + self.runs * 4])
    }

    /// The rows of run `r`.
    pub fn run_rows(&self, r: usize) -> std::ops::Range<usize> {
        let ends = self.run_end();
        (if r == 0 { 0 } else { ends[r - 1] as usize })..ends[r] as usize
    }

    /// `$insert_id` hashes.
    pub fn copy(&self) -> &[u64] {
        bytemuck::cast_slice(&self.map[self.copy_at..self.time_at])
    }

    /// Milliseconds since the day's start.
    pub fn time(&self) -> &[u32] {
        bytemuck::cast_slice(&self.map[self.time_at..self.time_at + self.rows * 4])
    }

    /// Event name indexes.
    pub fn event(&self) -> &[u16] {
        bytemuck::cast_slice(&self.map[self.event_at..self.event_at + self.rows * 2])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_written_day_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.tl");
        let mut entries: Vec<Entry> = (0..1000u64)
            .map(|i| Entry {
                user: (i % 300).wrapping_mul(0x9E37_79B9_7F4A_7C15),
                time: (i * 7 % 1000) as u32,
                event: (i % 3) as u16,
                copy: i,
            })
            .collect();
        entries.sort();
        let names = vec!["A".to_string(), "B\"".to_string(), "ü".to_string()];
        write(&path, 4, 20_000, 77, &names, &entries).unwrap();
        let f = DayFile::open(&path).unwrap();
        assert_eq!((f.project, f.day, f.covered_seq, f.rows()), (4, 20_000, 77, 1000));
        assert_eq!(f.names, names);
        let mut i = 0;
        for r in 0..f.run_user().len() {
            let b = bucket_of(f.run_user()[r]);
            assert!((f.buckets()[b] as usize..f.buckets()[b + 1] as usize).contains(&r));
            for row in f.run_rows(r) {
                assert_eq!(row, i);
                let e = entries[i];
                assert_eq!(
                    (f.run_user()[r], f.time()[row], f.event()[row], f.copy()[row]),
                    (e.user, e.time, e.event, e.copy)
                );
                i += 1;
            }
        }
        assert_eq!(i, entries.len());
        let whole = std::fs::read(&path).unwrap();
        let mut flipped = whole.clone();
        // One bit of a row's time, in the middle of the time column (from the end: the
        // checksum's 8 bytes, 1,000 events of 2 bytes, then half of 1,000 times of 4).
        let at = whole.len() - 8 - 2 * 1000 - 4 * 500;
        flipped[at] ^= 0x10;
        std::fs::write(&path, &flipped).unwrap();
        let err = DayFile::open(&path).err().expect("a flipped bit is caught");
        assert!(err.to_string().contains("checksum"), "{err}");
        std::fs::write(&path, b"SXTL0001 short").unwrap();
        assert!(DayFile::open(&path).is_err());
    }
}
