//! A behavioural scan over day timelines: each user's runs, one day after another,
//! with the rows the timelines do not hold merged in.
//!
//! Work goes bucket by bucket (a bucket is one range of user hashes, contiguous in
//! every day), each day's part of a bucket read as one sequential stretch; two threads
//! take half the rows each. Measured on 100M events (`benches/funnels.rs` in the query
//! crate): reading user by user across the days was memory-latency bound (2.8 s for a
//! 3-step funnel's scan); 2^16 buckets, 2.2 s; 2^12 buckets, 1.8 s. Rows from elsewhere (the hot tier, days or late
//! rows without a timeline, and the rows of ids merged into another user, which change
//! user hash) come in sorted as `extra`; a user who has some, or events at one instant,
//! gets their rows sorted by (time, mask, copy) and copies dropped, as the SQL scan does.

use std::collections::{HashMap, HashSet};
use std::ops::Range;
use std::sync::Arc;

use sextant_storage::{BehaviourQuery, BehaviourRows};

use super::file::{BUCKETS, DAY_MS, DayFile, bucket_of};
use crate::behaviour::Row;

/// How one day's rows become condition bits.
struct Day<'a> {
    buckets: &'a [u32],
    run_user: &'a [u64],
    run_end: &'a [u32],
    copy: &'a [u64],
    time: &'a [u32],
    event: &'a [u16],
    /// Condition bits per event name index.
    masks: Vec<u32>,
    /// Rows of the names with condition bits: at most what the day contributes.
    matching: usize,
    start_ms: i64,
    /// Rows count only with `lo <= time < hi` (ms since the day's start).
    lo: u32,
    hi: u32,
}

/// Conditions that hold only from some instant: `(bit, from_ms)`.
type Gates = Vec<(u32, i64)>;

impl<'a> Day<'a> {
    fn new(file: &'a DayFile, q: &BehaviourQuery) -> Self {
        let masks: Vec<u32> = file
            .names
            .iter()
            .map(|name| {
                let mut m = 0u32;
                for (i, c) in q.conditions.iter().enumerate() {
                    if c.event.as_deref().is_none_or(|e| e == name) {
                        m |= 1 << i;
                    }
                }
                m
            })
            .collect();
        let matching = masks.iter().zip(&file.name_rows).filter(|(m, _)| **m != 0).map(|(_, n)| *n as usize).sum();
        let start_ms = file.start_ms();
        let clamp = |t: i64| (t - start_ms).clamp(0, DAY_MS) as u32;
        Day {
            buckets: file.buckets(),
            run_user: file.run_user(),
            run_end: file.run_end(),
            copy: file.copy(),
            time: file.time(),
            event: file.event(),
            masks,
            matching,
            start_ms,
            lo: clamp(q.from_ms),
            hi: clamp(q.to_ms),
        }
    }

    /// The rows of run `r`.
    #[inline]
    fn run_rows(&self, r: usize) -> Range<usize> {
        (if r == 0 { 0 } else { self.run_end[r - 1] as usize })..self.run_end[r] as usize
    }

    /// The row's condition bits, 0 when it does not count.
    #[inline]
    fn mask(&self, row: usize, gates: &Gates) -> u32 {
        let mut m = self.masks[self.event[row] as usize];
        if m == 0 {
            return 0;
        }
        let t = self.time[row];
        if t < self.lo || t >= self.hi {
            return 0;
        }
        for &(bit, from) in gates {
            if self.start_ms + i64::from(t) < from {
                m &= !bit;
            }
        }
        m
    }

    #[inline]
    fn time_ms(&self, row: usize) -> i64 {
        self.start_ms + i64::from(self.time[row])
    }
}

/// Merges `days` (in day order) with `extra`, rows from outside the timelines already
/// under their canonical user (sorted by user, time, mask, copy; no copies among
/// themselves). `moved` maps an id's hash to its canonical user's hash when they
/// differ: those rows of the timelines are moved under the canonical user.
pub(crate) fn scan(
    days: &[Arc<DayFile>],
    q: &BehaviourQuery,
    mut extra: Vec<Row>,
    moved: &HashMap<u64, u64>,
) -> BehaviourRows {
    let gates: Gates =
        q.conditions.iter().enumerate().filter_map(|(i, c)| c.from_ms.map(|from| (1u32 << i, from))).collect();
    let days: Vec<Day> = days.iter().map(|f| Day::new(f, q)).collect();
    if !moved.is_empty() {
        for day in &days {
            moved_rows(day, &gates, moved, &mut extra);
        }
        extra.sort_unstable();
        extra.dedup();
    }
    let sources: HashSet<u64> = moved.keys().copied().collect();
    // Two halves of about the same number of rows (a few users can hold a good part
    // of all rows, so runs would be a poor measure).
    let weight = |b: usize| -> usize {
        days.iter()
            .map(|d| {
                let (first, last) = (d.buckets[b] as usize, d.buckets[b + 1] as usize);
                if first == last { 0 } else { d.run_rows(last - 1).end - d.run_rows(first).start }
            })
            .sum()
    };
    let total: usize = days.iter().map(|d| d.time.len()).sum();
    let mut mid = 0;
    let mut seen = 0;
    while mid < BUCKETS && seen < total / 2 {
        seen += weight(mid);
        mid += 1;
    }
    let split = extra.partition_point(|e| bucket_of(e.user) < mid);
    let (low_extra, high_extra) = extra.split_at(split);
    // Room for every row that can count, reserved once: untouched room costs nothing.
    let room = days.iter().map(|d| d.matching).sum::<usize>() + extra.len();
    let ctx = Ctx { days: &days, gates: &gates, sources: &sources };
    let (mut low, high) = std::thread::scope(|s| {
        let high = s.spawn(|| ctx.part(mid..BUCKETS, high_extra, room));
        (ctx.part(0..mid, low_extra, room), high.join().expect("timeline merge thread"))
    });
    low.user.extend_from_slice(&high.user);
    low.time_ms.extend_from_slice(&high.time_ms);
    low.mask.extend_from_slice(&high.mask);
    let n = low.user.len();
    BehaviourRows {
        user: low.user,
        time_ms: low.time_ms,
        mask: low.mask,
        segment: vec![0; n],
        segments: vec![Vec::new()],
    }
}

/// The rows of ids in `moved`, as extras under their canonical user.
fn moved_rows(day: &Day, gates: &Gates, moved: &HashMap<u64, u64>, extra: &mut Vec<Row>) {
    for (&from, &to) in moved {
        let b = bucket_of(from);
        let (lo, hi) = (day.buckets[b] as usize, day.buckets[b + 1] as usize);
        let Ok(r) = day.run_user[lo..hi].binary_search(&from) else { continue };
        for row in day.run_rows(lo + r) {
            let mask = day.mask(row, gates);
            if mask != 0 {
                extra.push(Row { user: to, time_ms: day.time_ms(row), mask, copy: day.copy[row], segment: 0 });
            }
        }
    }
}

struct Ctx<'a> {
    days: &'a [Day<'a>],
    gates: &'a Gates,
    /// Ids whose rows were moved to their canonical user.
    sources: &'a HashSet<u64>,
}

#[derive(Default)]
struct Part {
    user: Vec<u64>,
    time_ms: Vec<i64>,
    mask: Vec<u32>,
}

/// An empty vector with room for `n` values, whose memory the kernel backs with 2 MB
/// pages where it can (Linux with transparent huge pages in `madvise` mode): a scan's
/// output is hundreds of megabytes written once, and with 4 kB pages a good part of
/// its time went to page faults. Room never written costs nothing.
fn with_huge_pages<T>(n: usize) -> Vec<T> {
    let v: Vec<T> = Vec::with_capacity(n);
    #[cfg(target_os = "linux")]
    {
        const HUGE: usize = 2 << 20;
        let bytes = n * std::mem::size_of::<T>();
        if bytes >= 4 * HUGE {
            let start = v.as_ptr() as usize;
            let aligned = start.next_multiple_of(HUGE);
            let len = (start + bytes).saturating_sub(aligned) / HUGE * HUGE;
            if len > 0 {
                // SAFETY: the range lies inside the vector's own allocation; the advice
                // changes how pages are backed, never their contents.
                unsafe { libc::madvise(aligned as *mut libc::c_void, len, libc::MADV_HUGEPAGE) };
            }
        }
    }
    v
}

/// A run of the current bucket with rows that count.
#[derive(Clone, Copy)]
struct RunRef {
    slot: u32,
    day: u32,
    run: u32,
}

/// Per user of the current bucket (by slot).
#[derive(Clone, Default)]
struct SlotState {
    /// Rows that count.
    rows: usize,
    /// The last counted row's time, and whether two were simultaneous.
    last_ms: i64,
    ties: bool,
    /// Its rows among the extras.
    extra: Range<usize>,
    /// Where its rows go, while they are written.
    at: usize,
}

impl SlotState {
    /// Whether its rows are already in order: no extras to merge in and no two at the
    /// same time to order by mask and copy, so they are written as the runs give them.
    fn in_order(&self) -> bool {
        self.extra.is_empty() && !self.ties
    }
}

impl Ctx<'_> {
    /// Merges `buckets`. Each bucket is read day after day, each day's part of it one
    /// sequential stretch (reading user by user instead would jump between every day
    /// for every user: measured three times slower, bound by memory latency). Its
    /// users get slots in a small hash table in the order first seen. A first pass
    /// counts each user's rows and notices simultaneous ones; a second writes the
    /// rows of users with neither extras nor simultaneous rows straight to their
    /// place, day after day, hence in time order; the others are sorted on their own.
    /// Users come out grouped, not sorted.
    fn part(&self, buckets: Range<usize>, extra: &[Row], room: usize) -> Part {
        let mut out = Part { user: with_huge_pages(room), time_ms: with_huge_pages(room), mask: with_huge_pages(room) };
        let mut slots = Slots::default();
        let mut state: Vec<SlotState> = Vec::new();
        let mut runs: Vec<RunRef> = Vec::new();
        let mut fix: Vec<(i64, u32, u64)> = Vec::new();
        let mut x = 0;
        for b in buckets {
            let x_end = x + extra[x..].partition_point(|e| bucket_of(e.user) == b);
            let bucket_runs: usize = self.days.iter().map(|d| (d.buckets[b + 1] - d.buckets[b]) as usize).sum();
            slots.reset(bucket_runs + (x_end - x));
            state.clear();
            runs.clear();
            let fresh = SlotState { last_ms: i64::MIN, extra: 0..0, ..SlotState::default() };
            for (d, day) in self.days.iter().enumerate() {
                for r in day.buckets[b] as usize..day.buckets[b + 1] as usize {
                    let user = day.run_user[r];
                    if !self.sources.is_empty() && self.sources.contains(&user) {
                        continue;
                    }
                    let u = slots.of(user) as usize;
                    if u == state.len() {
                        state.push(fresh.clone());
                    }
                    let st = &mut state[u];
                    let before = st.rows;
                    for row in day.run_rows(r) {
                        if day.mask(row, self.gates) != 0 {
                            let t = day.time_ms(row);
                            st.ties |= t == st.last_ms;
                            st.last_ms = t;
                            st.rows += 1;
                        }
                    }
                    if st.rows > before {
                        runs.push(RunRef { slot: u as u32, day: d as u32, run: r as u32 });
                    }
                }
            }
            while x < x_end {
                let user = extra[x].user;
                let from = x;
                while x < x_end && extra[x].user == user {
                    x += 1;
                }
                let u = slots.of(user) as usize;
                if u == state.len() {
                    state.push(fresh.clone());
                }
                state[u].extra = from..x;
            }
            // Users written in place: room for their rows, each user's place.
            let base = out.user.len();
            let mut end = base;
            for st in state.iter_mut() {
                if st.in_order() {
                    st.at = end;
                    end += st.rows;
                }
            }
            out.user.resize(end, 0);
            out.time_ms.resize(end, 0);
            out.mask.resize(end, 0);
            for run in &runs {
                let st = &mut state[run.slot as usize];
                if !st.in_order() {
                    continue;
                }
                let day = &self.days[run.day as usize];
                let user = slots.users[run.slot as usize];
                for row in day.run_rows(run.run as usize) {
                    let mask = day.mask(row, self.gates);
                    if mask != 0 {
                        out.user[st.at] = user;
                        out.time_ms[st.at] = day.time_ms(row);
                        out.mask[st.at] = mask;
                        st.at += 1;
                    }
                }
            }
            // The others: sorted by (time, mask, copy), copies dropped, as the SQL scan does.
            runs.retain(|r| {
                let st = &state[r.slot as usize];
                !st.in_order()
            });
            runs.sort_by_key(|r| r.slot); // stable: each user's runs stay in day order
            let mut next_run = 0;
            for (u, st) in state.iter().enumerate() {
                if st.in_order() {
                    continue;
                }
                fix.clear();
                let first = next_run;
                while next_run < runs.len() && runs[next_run].slot as usize == u {
                    next_run += 1;
                }
                for run in &runs[first..next_run] {
                    let day = &self.days[run.day as usize];
                    for row in day.run_rows(run.run as usize) {
                        let mask = day.mask(row, self.gates);
                        if mask != 0 {
                            fix.push((day.time_ms(row), mask, day.copy[row]));
                        }
                    }
                }
                if st.extra.is_empty() {
                    // Already in time order: only each instant's rows need ordering.
                    for same in fix.chunk_by_mut(|a, b| a.0 == b.0) {
                        same.sort_unstable();
                    }
                } else {
                    fix.extend(extra[st.extra.clone()].iter().map(|e| (e.time_ms, e.mask, e.copy)));
                    fix.sort_unstable();
                }
                fix.dedup();
                let user = slots.users[u];
                for &(t, m, _) in &fix {
                    out.user.push(user);
                    out.time_ms.push(t);
                    out.mask.push(m);
                }
            }
        }
        out
    }
}

/// The users of one bucket, each given the next slot when first seen: an
/// open-addressing table small enough to stay in cache, emptied by bumping a
/// generation rather than by clearing it.
#[derive(Default)]
struct Slots {
    /// (user, slot, generation): an entry of an older generation is free.
    table: Vec<(u64, u32, u32)>,
    generation: u32,
    /// Users by slot.
    users: Vec<u64>,
}

impl Slots {
    /// Empties the table, sized for up to `n` users.
    fn reset(&mut self, n: usize) {
        let size = (2 * n).next_power_of_two().max(16);
        if size > self.table.len() || self.generation == u32::MAX {
            self.table.clear();
            self.table.resize(size.max(self.table.len()), (0, 0, 0));
            self.generation = 0;
        }
        self.generation += 1;
        self.users.clear();
    }

    /// The user's slot, given now if new.
    #[inline]
    fn of(&mut self, user: u64) -> u32 {
        let mask = self.table.len() - 1;
        // The bucket shares the top bits; the low bits of a hash spread as well.
        let mut i = (user as usize).wrapping_mul(0x9E37_79B9) >> 7 & mask;
        loop {
            let (key, slot, generation) = self.table[i];
            if generation != self.generation {
                let slot = self.users.len() as u32;
                self.users.push(user);
                self.table[i] = (user, slot, self.generation);
                return slot;
            }
            if key == user {
                return slot;
            }
            i = (i + 1) & mask;
        }
    }
}
