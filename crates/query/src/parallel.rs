//! Kernels on every core: a scan's users split into consecutive parts, one thread
//! each, the parts' totals added afterwards.

use std::ops::Range;

use sextant_storage::BehaviourRows;

/// Scans smaller than this run on the calling thread: a thread costs more than it saves.
const WORTH_A_THREAD: usize = 1 << 16;

/// Runs `f` on parts of `rows` (see [`per_part`]) and folds the parts' results into the
/// first with `add`.
pub fn fold_parts<T: Send + Default>(
    rows: &BehaviourRows,
    f: impl Fn(Range<usize>) -> T + Sync,
    add: impl Fn(&mut T, T),
) -> T {
    let mut parts = per_part(rows, f).into_iter();
    let mut out = parts.next().unwrap_or_default();
    for part in parts {
        add(&mut out, part);
    }
    out
}

/// Runs `f` on parts of `rows` that split no user, on up to one thread per core, and
/// returns each part's result in order.
pub fn per_part<T: Send>(rows: &BehaviourRows, f: impl Fn(Range<usize>) -> T + Sync) -> Vec<T> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let parts = if rows.len() < WORTH_A_THREAD { 1 } else { cores };
    let ranges = rows.split(parts);
    if ranges.len() <= 1 {
        return vec![f(0..rows.len())];
    }
    std::thread::scope(|s| {
        let f = &f;
        let handles: Vec<_> = ranges.into_iter().map(|r| s.spawn(move || f(r))).collect();
        handles.into_iter().map(|h| h.join().expect("a kernel thread panicked")).collect()
    })
}
