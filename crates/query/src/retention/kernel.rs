//! The retention and addiction kernels: one forward pass over each user's events in
//! time order.
//!
//! Retention input is a [`BehaviourRows`] scan where one bit marks cohort ("born")
//! events and one bit return events (the same bit for compounded retention). Each user enters a cohort at an instant (birth:
//! their first born event ever, when it falls in the range; compounded: their first
//! return event in each date bucket of the range) and is then counted in interval `i`
//! when a return event other than the entering one happens at or after that instant
//! and falls in interval `i`.
//!
//! Addiction input marks the counted events with bit 0: per date bucket, a user who did
//! the event in `k` distinct hours (or days) of that bucket adds one to entries
//! `0..k` of the bucket's array.

use std::collections::BTreeMap;

use chrono::Datelike;
use sextant_storage::{BehaviourRows, DAY_MS, TimeBuckets};

/// How intervals are measured from the cohort instant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Intervals {
    /// Each user's own clock: interval `i` is `[entry + i*ms, entry + (i+1)*ms)`.
    Relative {
        /// Interval length, ms.
        ms: i64,
    },
    /// The project's calendar: interval `i` holds the `units` local days, weeks or
    /// months starting `i * units` after the one that holds the entry.
    Calendar {
        /// `day`, `week` or `month`.
        unit: CalendarUnit,
        /// Units per interval.
        units: i64,
    },
}

/// A calendar unit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CalendarUnit {
    /// Local days.
    Day,
    /// Local weeks, Monday first.
    Week,
    /// Local months.
    Month,
}

impl CalendarUnit {
    /// The index of the unit holding local time `local_ms`, counted from 1970.
    pub fn index(self, local_ms: i64) -> i64 {
        let day = local_ms.div_euclid(DAY_MS);
        match self {
            CalendarUnit::Day => day,
            // 1970-01-01 was a Thursday: three days after a Monday.
            CalendarUnit::Week => (day + 3).div_euclid(7),
            CalendarUnit::Month => {
                let date =
                    chrono::DateTime::from_timestamp(day * 86_400, 0).map(|d| d.date_naive()).unwrap_or_default();
                i64::from(date.year()) * 12 + i64::from(date.month0())
            }
        }
    }
}

/// What a retention computes.
#[derive(Clone, Debug)]
pub struct Retention {
    /// Birth (one entry per user, their first born event ever) or compounded (one entry
    /// per date bucket in which the user did the return event).
    pub compounded: bool,
    /// The mask bit of cohort events (birth) or of return events (compounded).
    pub born_bit: u32,
    /// The mask bit of return events.
    pub return_bit: u32,
    /// Entries count only in `[from_ms, to_ms)`.
    pub from_ms: i64,
    /// See `from_ms`.
    pub to_ms: i64,
    /// The cohort date buckets (their local starts come from `buckets`).
    pub buckets: TimeBuckets,
    /// How intervals are measured.
    pub intervals: Intervals,
    /// Intervals after the 0th: each answer has `interval_count + 1` counts.
    pub interval_count: usize,
    /// A user counts in every interval up to the last one they returned in.
    pub unbounded: bool,
}

/// One cohort's size and its users per interval.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Cohort {
    /// Users who entered.
    pub first: u64,
    /// Users who returned in each interval.
    pub counts: Vec<u64>,
}

impl Cohort {
    /// Adds another cohort of the same shape.
    pub fn add(&mut self, other: &Cohort) {
        self.first += other.first;
        if self.counts.len() < other.counts.len() {
            self.counts.resize(other.counts.len(), 0);
        }
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
    }
}

impl Retention {
    /// Runs over every user: cohorts per (local bucket start, segment key-set index).
    pub fn run(&self, rows: &BehaviourRows) -> BTreeMap<(i64, u32), Cohort> {
        crate::parallel::fold_parts(
            rows,
            |part| self.run_part(rows, part),
            |out, part| {
                for (key, cohort) in part {
                    out.entry(key).or_insert_with(Cohort::default).add(&cohort);
                }
            },
        )
    }

    fn run_part(&self, rows: &BehaviourRows, part: std::ops::Range<usize>) -> BTreeMap<(i64, u32), Cohort> {
        let mut out = BTreeMap::new();
        let mut returned = vec![false; self.interval_count + 1];
        for range in rows.users_in(part) {
            let time = &rows.time_ms[range.clone()];
            let mask = &rows.mask[range.clone()];
            let segment = &rows.segment[range];
            let mut last_bucket = None;
            for i in 0..time.len() {
                let t = time[i];
                if mask[i] & self.born_bit == 0 {
                    continue;
                }
                if !self.compounded && last_bucket.is_some() {
                    break;
                }
                if t < self.from_ms || t >= self.to_ms {
                    if self.compounded {
                        continue;
                    }
                    // Birth: the first born event ever is out of range.
                    break;
                }
                let bucket = self.buckets.bucket_of(t);
                if last_bucket == Some(bucket) {
                    continue;
                }
                last_bucket = Some(bucket);
                returned.iter_mut().for_each(|r| *r = false);
                self.returns(time, mask, i, &mut returned);
                let cohort = out
                    .entry((bucket, segment[i]))
                    .or_insert_with(|| Cohort { first: 0, counts: vec![0; self.interval_count + 1] });
                cohort.first += 1;
                let last = returned.iter().rposition(|r| *r);
                for (k, r) in returned.iter().enumerate() {
                    if *r || (self.unbounded && last.is_some_and(|l| k <= l)) {
                        cohort.counts[k] += 1;
                    }
                }
            }
        }
        out
    }

    /// Marks the intervals in which the user returned after entering at `i`.
    fn returns(&self, time: &[i64], mask: &[u32], i: usize, returned: &mut [bool]) {
        let entry = time[i];
        // Simultaneous events come in any order: look back over the entry's instant too.
        let start = time[..i].partition_point(|&t| t < entry);
        let entry_unit = match self.intervals {
            Intervals::Calendar { unit, .. } => unit.index(entry + self.buckets.offset_at(entry)),
            Intervals::Relative { .. } => 0,
        };
        for j in start..time.len() {
            if j == i || mask[j] & self.return_bit == 0 {
                continue;
            }
            let t = time[j];
            let k = match self.intervals {
                Intervals::Relative { ms } => (t - entry).div_euclid(ms.max(1)),
                Intervals::Calendar { unit, units } => {
                    (unit.index(t + self.buckets.offset_at(t)) - entry_unit).div_euclid(units.max(1))
                }
            };
            if k < 0 {
                continue;
            }
            if k as usize >= returned.len() {
                break;
            }
            returned[k as usize] = true;
        }
    }
}

/// What an addiction report computes.
#[derive(Clone, Debug)]
pub struct Addiction {
    /// Only events in `[from_ms, to_ms)` count.
    pub from_ms: i64,
    /// See `from_ms`.
    pub to_ms: i64,
    /// The period buckets (`unit`).
    pub buckets: TimeBuckets,
    /// The counted unit within a period, ms (an hour or a day, of local time).
    pub unit_ms: i64,
    /// Entries per array: the most units a period can hold.
    pub slots: usize,
}

impl Addiction {
    /// Runs over every user: per (local period start, segment key-set index), users who
    /// did the event in at least `k + 1` distinct units of the period, for each `k`.
    pub fn run(&self, rows: &BehaviourRows) -> BTreeMap<(i64, u32), Vec<u64>> {
        crate::parallel::fold_parts(
            rows,
            |part| self.run_part(rows, part),
            |out, part| {
                for (key, counts) in part {
                    let total = out.entry(key).or_insert_with(|| vec![0; self.slots]);
                    for (a, b) in total.iter_mut().zip(&counts) {
                        *a += b;
                    }
                }
            },
        )
    }

    /// One user at a time: each event that starts a new (segment, unit) is noted as
    /// (segment, period index, unit); the user's notes, sorted and deduplicated, give
    /// each (segment, period) its count of distinct units, which goes into a histogram.
    /// No map is touched per event or per user: cells are found by index.
    fn run_part(&self, rows: &BehaviourRows, part: std::ops::Range<usize>) -> BTreeMap<(i64, u32), Vec<u64>> {
        // Every period an event in range can fall in: local time never moves by two
        // days against UTC, so a margin of two days each side covers DST shifts.
        let periods = crate::calendar::series(&self.buckets, self.from_ms - 2 * DAY_MS, self.to_ms + 2 * DAY_MS);
        let width = self.slots + 1;
        // Whether period starts are unit boundaries (a period changes only with the
        // unit): always, unless periods are minutes or hours finer than the unit.
        let aligned = match self.buckets.unit {
            sextant_storage::BucketUnit::Minute => self.unit_ms <= 60_000,
            sextant_storage::BucketUnit::Hour => self.unit_ms <= 3_600_000,
            _ => true,
        };
        // Cell (segment, period) -> its histogram's offset in `hist` (u32::MAX: none yet).
        let mut cell_of: Vec<u32> = Vec::new();
        let mut hist: Vec<u64> = Vec::new();
        let mut cells: Vec<(u32, u32)> = Vec::new();
        let mut notes: Vec<(u32, u32, i64)> = Vec::new();
        let mut offset = OffsetCursor::new();
        for range in rows.users_in(part) {
            notes.clear();
            let (mut last_unit, mut last_segment) = (i64::MIN, u32::MAX);
            let (mut last_period, mut period_index) = (i64::MIN, 0u32);
            for i in range {
                let t = rows.time_ms[i];
                if rows.mask[i] & 1 == 0 || t < self.from_ms || t >= self.to_ms {
                    continue;
                }
                let local = t + offset.at(t, &self.buckets.offsets);
                let unit = local.div_euclid(self.unit_ms);
                let segment = rows.segment[i];
                if unit == last_unit && segment == last_segment && aligned {
                    continue;
                }
                if unit != last_unit || !aligned {
                    let period = self.buckets.bucket_of_local(local);
                    if period != last_period {
                        let Ok(p) = periods.binary_search(&period) else {
                            debug_assert!(false, "period {period} outside the margin");
                            continue;
                        };
                        last_period = period;
                        period_index = p as u32;
                    }
                }
                last_unit = unit;
                last_segment = segment;
                notes.push((segment, period_index, unit));
            }
            // Time order makes the notes sorted already, unless the user's segment
            // changed back and forth or a DST fall-back repeated a local hour.
            if !notes.is_sorted() {
                notes.sort_unstable();
            }
            notes.dedup();
            let mut start = 0;
            while start < notes.len() {
                let (segment, period, _) = notes[start];
                let run = notes[start..].iter().take_while(|n| n.0 == segment && n.1 == period).count();
                start += run;
                let index = segment as usize * periods.len() + period as usize;
                if index >= cell_of.len() {
                    cell_of.resize(index + 1, u32::MAX);
                }
                if cell_of[index] == u32::MAX {
                    cell_of[index] = u32::try_from(hist.len()).unwrap_or(u32::MAX - 1);
                    hist.resize(hist.len() + width, 0);
                    cells.push((segment, period));
                }
                hist[cell_of[index] as usize + run.min(self.slots)] += 1;
            }
        }
        // Users with at least k + 1 units: the histogram summed from k + 1 up.
        let mut out = BTreeMap::new();
        for (segment, period) in cells {
            let at = cell_of[segment as usize * periods.len() + period as usize] as usize;
            let h = &hist[at..at + width];
            let mut counts = vec![0; self.slots];
            let mut above = 0;
            for k in (0..self.slots).rev() {
                above += h[k + 1];
                counts[k] = above;
            }
            out.insert((periods[period as usize], segment), counts);
        }
        out
    }
}

/// The UTC offset at an instant, remembered with the span it holds for, so a run of
/// nearby instants costs one comparison each instead of a search.
struct OffsetCursor {
    from: i64,
    until: i64,
    offset: i64,
}

impl OffsetCursor {
    fn new() -> Self {
        // An empty span: the first call searches.
        OffsetCursor { from: i64::MAX, until: i64::MIN, offset: 0 }
    }

    /// The offset at `t`, per [`TimeBuckets::offset_at`].
    fn at(&mut self, t: i64, offsets: &[(i64, i64)]) -> i64 {
        if t < self.from || t >= self.until {
            let i = offsets.partition_point(|(from, _)| *from <= t);
            self.from = if i == 0 { i64::MIN } else { offsets[i - 1].0 };
            self.until = offsets.get(i).map_or(i64::MAX, |(from, _)| *from);
            self.offset = offsets.get(i.saturating_sub(1)).map_or(0, |(_, o)| *o);
        }
        self.offset
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sextant_storage::BucketUnit;

    const H: i64 = 3_600_000;

    fn rows(events: &[(u64, i64, u32)]) -> BehaviourRows {
        let mut r = BehaviourRows::new();
        for &(u, t, m) in events {
            r.user.push(u);
            r.time_ms.push(t);
            r.mask.push(m);
            r.segment.push(0);
        }
        r
    }

    fn days() -> TimeBuckets {
        TimeBuckets { unit: BucketUnit::Day, offsets: vec![] }
    }

    #[test]
    fn birth_retention_counts_each_users_own_days() {
        let r = Retention {
            compounded: false,
            born_bit: 1,
            return_bit: 2,
            from_ms: 0,
            to_ms: 10 * DAY_MS,
            buckets: days(),
            intervals: Intervals::Relative { ms: DAY_MS },
            interval_count: 2,
            unbounded: false,
        };
        // u1 born at 10:00 on day 0, returns at 09:00 on day 1 (within 24 h: interval 0)
        // and at 11:00 on day 1 (interval 1). u2 born on day 1, returns 2 days later.
        let got = r.run(&rows(&[
            (1, 10 * H, 3),
            (1, DAY_MS + 9 * H, 2),
            (1, DAY_MS + 11 * H, 2),
            (2, DAY_MS, 1),
            (2, 3 * DAY_MS, 2),
        ]));
        assert_eq!(got[&(0, 0)], Cohort { first: 1, counts: vec![1, 1, 0] });
        assert_eq!(got[&(DAY_MS, 0)], Cohort { first: 1, counts: vec![0, 0, 1] });
        let unbounded = Retention { unbounded: true, ..r.clone() }.run(&rows(&[(2, DAY_MS, 1), (2, 3 * DAY_MS, 2)]));
        assert_eq!(unbounded[&(DAY_MS, 0)].counts, vec![1, 1, 1]);
        // Born before the range: not in any cohort, even with later births in range.
        let late = Retention { from_ms: DAY_MS, ..r };
        assert!(late.run(&rows(&[(1, 0, 1), (1, 2 * DAY_MS, 1)])).is_empty());
    }

    #[test]
    fn compounded_retention_enters_once_per_bucket_on_the_calendar() {
        let r = Retention {
            compounded: true,
            born_bit: 1,
            return_bit: 1,
            from_ms: 0,
            to_ms: 3 * DAY_MS,
            buckets: days(),
            intervals: Intervals::Calendar { unit: CalendarUnit::Day, units: 1 },
            interval_count: 1,
            unbounded: false,
        };
        let got = r.run(&rows(&[(1, 23 * H, 1), (1, DAY_MS + H, 1), (1, DAY_MS + 2 * H, 1)]));
        // Day 0: enters at 23:00, returns the next calendar day (interval 1).
        assert_eq!(got[&(0, 0)], Cohort { first: 1, counts: vec![0, 1] });
        // Day 1: enters at 01:00, returns at 02:00 the same day.
        assert_eq!(got[&(DAY_MS, 0)], Cohort { first: 1, counts: vec![1, 0] });
    }

    #[test]
    fn addiction_counts_distinct_hours_per_day() {
        let a = Addiction { from_ms: 0, to_ms: DAY_MS, buckets: days(), unit_ms: H, slots: 24 };
        let got = a.run(&rows(&[(1, 0, 1), (1, 10, 1), (1, H, 1), (1, 5 * H, 1), (2, 2 * H, 1)]));
        let mut want = vec![0; 24];
        want[0] = 2;
        want[1] = 1;
        want[2] = 1;
        assert_eq!(got[&(0, 0)], want);
    }

    /// The plain definition: per user, per (period, segment), the set of distinct units.
    fn addiction_by_definition(a: &Addiction, r: &BehaviourRows) -> BTreeMap<(i64, u32), Vec<u64>> {
        let mut out: BTreeMap<(i64, u32), Vec<u64>> = BTreeMap::new();
        for range in r.users_in(0..r.len()) {
            let mut seen: BTreeMap<(i64, u32), std::collections::BTreeSet<i64>> = BTreeMap::new();
            for i in range {
                let t = r.time_ms[i];
                if r.mask[i] & 1 == 0 || t < a.from_ms || t >= a.to_ms {
                    continue;
                }
                let local = t + a.buckets.offset_at(t);
                let period = a.buckets.bucket_of_local(local);
                seen.entry((period, r.segment[i])).or_default().insert(local.div_euclid(a.unit_ms));
            }
            for (key, units) in seen {
                let counts = out.entry(key).or_insert_with(|| vec![0; a.slots]);
                for c in counts.iter_mut().take(units.len()) {
                    *c += 1;
                }
            }
        }
        out
    }

    #[test]
    fn addiction_agrees_with_its_definition_across_dst_and_changing_segments() {
        // Europe/Paris-like offsets: +1 h, +2 h from day 3 at 01:00 UTC, +1 h again
        // from day 9 at 01:00 UTC (a local hour repeats then).
        let offsets = vec![(0, H), (3 * DAY_MS + H, 2 * H), (9 * DAY_MS + H, H)];
        let mut seed = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = move |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        for (unit, unit_ms, slots) in [
            (BucketUnit::Day, H, 24),
            (BucketUnit::Week, H, 7 * 24),
            (BucketUnit::Week, DAY_MS, 7),
            (BucketUnit::Hour, DAY_MS, 1),
        ] {
            let mut r = BehaviourRows::new();
            for user in 0..300u64 {
                let mut t = next(12 * DAY_MS as u64) as i64 - DAY_MS;
                for _ in 0..next(40) {
                    t += next(3 * H as u64) as i64;
                    r.user.push(user);
                    r.time_ms.push(t);
                    r.mask.push(if next(5) == 0 { 2 } else { 1 });
                    r.segment.push(if user % 3 == 0 { next(3) as u32 } else { 0 });
                }
            }
            let a = Addiction {
                from_ms: 0,
                to_ms: 11 * DAY_MS,
                buckets: TimeBuckets { unit, offsets: offsets.clone() },
                unit_ms,
                slots,
            };
            assert_eq!(a.run(&r), addiction_by_definition(&a, &r), "{unit:?} by {unit_ms} ms");
        }
    }
}
