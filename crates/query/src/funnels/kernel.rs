//! The funnel kernel: one forward pass over each user's events in time order.
//!
//! Input is a [`BehaviourRows`] scan whose condition bit `k` means "this event is
//! step `k`". Per user and per date bucket, the user enters the funnel at their first
//! step-0 event in that bucket (Mixpanel's unique-users rule: the window starts at the
//! first instance of step 1 and is not restarted by later ones), then:
//!
//! - **ordered**: each later step is the first event, after the step before it, that
//!   matches it, up to `entry + window` inclusive;
//! - **any**: the steps after the first in any order within the window; the user
//!   reaches step `k` once steps `0..=k` have all happened.
//!
//! Events with the same timestamp count as simultaneous: a step may happen at the
//! same millisecond as the step before it. One event fills one step at most.
//! The result is, per bucket and per segment key set, how many users reached each step
//! and the summed times between steps.

use sextant_model::FunnelOrder;
use sextant_storage::BehaviourRows;

/// What to compute.
#[derive(Clone, Debug)]
pub struct Funnel {
    /// Number of steps (at most 32).
    pub steps: usize,
    /// The conversion window, ms, inclusive.
    pub window_ms: i64,
    /// The ordering rule.
    pub order: FunnelOrder,
    /// Entries (step 0) count only in `[from_ms, to_ms)`; later steps may be after.
    pub from_ms: i64,
    /// See `from_ms`.
    pub to_ms: i64,
    /// UTC start of each date bucket, ascending; an entry belongs to the last bucket
    /// starting at or before it.
    pub bucket_starts: Vec<i64>,
}

/// Users reaching each step and their summed step times, for one bucket and key set.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StepTotals {
    /// Users who reached step `k`.
    pub count: Vec<u64>,
    /// Summed ms from step `k-1` to step `k` over those users (0 for step 0).
    pub from_previous_ms: Vec<i64>,
    /// Summed ms from step 0 to step `k`.
    pub from_start_ms: Vec<i64>,
}

impl StepTotals {
    fn new(steps: usize) -> Self {
        StepTotals { count: vec![0; steps], from_previous_ms: vec![0; steps], from_start_ms: vec![0; steps] }
    }

    /// Adds another total of the same shape.
    pub fn add(&mut self, other: &StepTotals) {
        for k in 0..self.count.len() {
            self.count[k] += other.count[k];
            self.from_previous_ms[k] += other.from_previous_ms[k];
            self.from_start_ms[k] += other.from_start_ms[k];
        }
    }

    fn record(&mut self, reached: usize, times: &[i64]) {
        for k in 0..reached {
            self.count[k] += 1;
            if k > 0 {
                self.from_previous_ms[k] += times[k] - times[k - 1];
                self.from_start_ms[k] += times[k] - times[0];
            }
        }
    }
}

/// The kernel's answer: totals per (bucket index, segment key-set index).
#[derive(Clone, Debug, Default)]
pub struct FunnelTotals {
    /// Keyed by bucket index, then by key-set index (into [`BehaviourRows::segments`]).
    pub cells: std::collections::BTreeMap<(usize, u32), StepTotals>,
}

impl Funnel {
    /// Runs the funnel over every user of `rows`, on every core.
    pub fn run(&self, rows: &BehaviourRows) -> FunnelTotals {
        crate::parallel::fold_parts(
            rows,
            |part| self.run_part(rows, part),
            |out, part| {
                for (key, totals) in part.cells {
                    out.cells.entry(key).or_insert_with(|| StepTotals::new(self.steps)).add(&totals);
                }
            },
        )
    }

    /// Runs the funnel over the users of `part` (a range that splits no user).
    fn run_part(&self, rows: &BehaviourRows, part: std::ops::Range<usize>) -> FunnelTotals {
        let mut out = Cells::new(self.bucket_starts.len().max(1), self.steps);
        let mut scratch = Scratch::default();
        for range in rows.users_in(part) {
            let time = &rows.time_ms[range.clone()];
            let mask = &rows.mask[range.clone()];
            let segment = &rows.segment[range];
            if time.windows(2).any(|w| w[0] == w[1]) {
                // Simultaneous events: order each run so that earlier steps come first.
                scratch.order_ties(time, mask, segment);
                self.user(&scratch.time, &scratch.mask, &scratch.segment, &mut out);
            } else {
                self.user(time, mask, segment, &mut out);
            }
        }
        out.into_totals()
    }

    /// One user's events, in time order.
    fn user(&self, time: &[i64], mask: &[u32], segment: &[u32], out: &mut Cells) {
        let mut times = [0i64; 32];
        // The bucket of the last entry, as `[lo, hi)`: later step-0 events in it do not
        // enter again, and are skipped without a search.
        let (mut lo, mut hi) = (i64::MAX, i64::MIN);
        for i in 0..time.len() {
            let t = time[i];
            if mask[i] & 1 == 0 || t < self.from_ms || t >= self.to_ms || (lo <= t && t < hi) {
                continue;
            }
            let bucket = self.bucket_starts.partition_point(|&s| s <= t).saturating_sub(1);
            lo = if bucket == 0 { i64::MIN } else { self.bucket_starts[bucket] };
            hi = self.bucket_starts.get(bucket + 1).copied().unwrap_or(i64::MAX);
            let reached = match self.order {
                FunnelOrder::Ordered => self.ordered(time, mask, i, &mut times),
                FunnelOrder::Any => self.any(time, mask, i, &mut times),
            };
            out.get(bucket, segment[i]).record(reached, &times);
        }
    }

    /// Steps reached from the entry at `i`, in order; fills `times`.
    #[inline]
    fn ordered(&self, time: &[i64], mask: &[u32], i: usize, times: &mut [i64; 32]) -> usize {
        let end = time[i].saturating_add(self.window_ms);
        times[0] = time[i];
        let mut reached = 1;
        for j in i + 1..time.len() {
            if reached == self.steps || time[j] > end {
                break;
            }
            if mask[j] & (1 << reached) != 0 {
                times[reached] = time[j];
                reached += 1;
            }
        }
        reached
    }

    /// Steps reached from the entry at `i`, the later steps in any order; `times[k]` is
    /// when steps `0..=k` had all happened.
    fn any(&self, time: &[i64], mask: &[u32], i: usize, times: &mut [i64; 32]) -> usize {
        let end = time[i].saturating_add(self.window_ms);
        let all: u32 = if self.steps == 32 { u32::MAX } else { (1u32 << self.steps) - 1 };
        let mut seen: u32 = 1;
        let mut reached = 1;
        times[0] = time[i];
        for j in i + 1..time.len() {
            if seen == all || time[j] > end {
                break;
            }
            // The event fills the first step it matches that is still missing.
            let open = mask[j] & !seen & !1;
            if open == 0 {
                continue;
            }
            seen |= 1 << open.trailing_zeros();
            while reached < self.steps && seen & (1 << reached) != 0 {
                times[reached] = time[j];
                reached += 1;
            }
        }
        reached
    }
}

/// One part's totals by (bucket, key set), found by index: a map lookup per entry
/// was a good part of the kernel's time.
struct Cells {
    buckets: usize,
    steps: usize,
    /// (key set * buckets + bucket) -> index into `totals`, or `u32::MAX`.
    index: Vec<u32>,
    totals: Vec<StepTotals>,
    keys: Vec<(usize, u32)>,
}

impl Cells {
    fn new(buckets: usize, steps: usize) -> Self {
        Cells { buckets, steps, index: Vec::new(), totals: Vec::new(), keys: Vec::new() }
    }

    #[inline]
    fn get(&mut self, bucket: usize, segment: u32) -> &mut StepTotals {
        let i = segment as usize * self.buckets + bucket;
        if i >= self.index.len() {
            self.index.resize(i + 1, u32::MAX);
        }
        if self.index[i] == u32::MAX {
            self.index[i] = self.totals.len() as u32;
            self.totals.push(StepTotals::new(self.steps));
            self.keys.push((bucket, segment));
        }
        &mut self.totals[self.index[i] as usize]
    }

    fn into_totals(self) -> FunnelTotals {
        FunnelTotals { cells: self.keys.into_iter().zip(self.totals).collect() }
    }
}

/// A reordered copy of one user's events.
#[derive(Default)]
struct Scratch {
    order: Vec<usize>,
    time: Vec<i64>,
    mask: Vec<u32>,
    segment: Vec<u32>,
}

impl Scratch {
    /// Copies the events with each run of equal times ordered by the first step each
    /// can fill, then by how many steps it matches (narrow events first), so a forward
    /// pass sees simultaneous steps in funnel order.
    fn order_ties(&mut self, time: &[i64], mask: &[u32], segment: &[u32]) {
        self.order.clear();
        self.order.extend(0..time.len());
        self.order.sort_by_key(|&i| (time[i], mask[i].trailing_zeros(), mask[i].count_ones(), i));
        self.time.clear();
        self.mask.clear();
        self.segment.clear();
        for &i in &self.order {
            self.time.push(time[i]);
            self.mask.push(mask[i]);
            self.segment.push(segment[i]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: i64 = 3_600_000;

    fn rows(events: &[(u64, i64, u32)]) -> BehaviourRows {
        let mut r = BehaviourRows::new();
        let mut sorted = events.to_vec();
        sorted.sort_by_key(|e| (e.0, e.1));
        for (u, t, m) in sorted {
            r.user.push(u);
            r.time_ms.push(t);
            r.mask.push(m);
            r.segment.push(0);
        }
        r
    }

    fn funnel(steps: usize, window_ms: i64, order: FunnelOrder) -> Funnel {
        Funnel { steps, window_ms, order, from_ms: 0, to_ms: 24 * H, bucket_starts: vec![0] }
    }

    fn counts(f: &Funnel, events: &[(u64, i64, u32)]) -> Vec<u64> {
        let totals = f.run(&rows(events));
        let mut all = StepTotals::new(f.steps);
        for t in totals.cells.values() {
            all.add(t);
        }
        all.count
    }

    #[test]
    fn window_is_inclusive_and_counted_from_the_first_entry() {
        let f = funnel(3, H, FunnelOrder::Ordered);
        // Just fits: the last step exactly one window after step 0.
        assert_eq!(counts(&f, &[(1, 0, 1), (1, 10, 2), (1, H, 4)]), vec![1, 1, 1]);
        // Just misses.
        assert_eq!(counts(&f, &[(1, 0, 1), (1, 10, 2), (1, H + 1, 4)]), vec![1, 1, 0]);
        // A later step 0 does not restart the window (Mixpanel's example: A 1:00, A 1:30,
        // B 1:45, C 2:15 with a one-hour window does not convert).
        let m = 60_000;
        assert_eq!(counts(&f, &[(1, 0, 1), (1, 30 * m, 1), (1, 45 * m, 2), (1, 75 * m, 4)]), vec![1, 1, 0]);
    }

    #[test]
    fn steps_must_follow_in_order_and_ties_are_simultaneous() {
        let f = funnel(3, H, FunnelOrder::Ordered);
        // C before B: only A, B.
        assert_eq!(counts(&f, &[(1, 0, 1), (1, 5, 4), (1, 10, 2)]), vec![1, 1, 0]);
        // B and C at A's millisecond, stored in any order.
        assert_eq!(counts(&f, &[(1, 7, 4), (1, 7, 2), (1, 7, 1)]), vec![1, 1, 1]);
        // One event fills one step: a repeated step needs two events.
        let same = funnel(2, H, FunnelOrder::Ordered);
        assert_eq!(counts(&same, &[(1, 0, 3)]), vec![1, 0]);
        assert_eq!(counts(&same, &[(1, 0, 3), (1, 0, 3)]), vec![1, 1]);
    }

    #[test]
    fn any_order_needs_every_earlier_step() {
        let f = funnel(3, H, FunnelOrder::Any);
        assert_eq!(counts(&f, &[(1, 0, 1), (1, 5, 4), (1, 10, 2)]), vec![1, 1, 1]);
        assert_eq!(counts(&f, &[(1, 0, 1), (1, 5, 4)]), vec![1, 0, 0]);
        let totals = f.run(&rows(&[(1, 0, 1), (1, 5, 4), (1, 10, 2)]));
        let t = totals.cells.values().next().unwrap();
        assert_eq!(t.from_start_ms, vec![0, 10, 10]);
    }

    #[test]
    fn each_bucket_has_its_own_entry_and_entries_must_be_in_range() {
        let mut f = funnel(2, 2 * H, FunnelOrder::Ordered);
        f.bucket_starts = vec![0, 12 * H];
        let totals = f.run(&rows(&[(1, H, 1), (1, 13 * H, 1), (1, 13 * H + 5, 2), (1, 25 * H, 1)]));
        let by_bucket: Vec<(usize, Vec<u64>)> = totals.cells.iter().map(|((b, _), t)| (*b, t.count.clone())).collect();
        assert_eq!(by_bucket, vec![(0, vec![1, 0]), (1, vec![1, 1])]);
        assert_eq!(totals.cells[&(1, 0)].from_previous_ms, vec![0, 5]);
    }
}
