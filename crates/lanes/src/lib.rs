//! CPU lanes: which blocking work yields to which when the cores are all busy.
//!
//! Every family's heavy work runs on blocking threads, and on two cores they compete.
//! Left alone, the kernel shares the CPU by thread: an export stream and four query
//! clients took 1.0 of 1.9 busy cores in the mixed-load bench and left ingestion 0.41
//! of its idle rate (`cargo bench --bench mixed_load -- 40 1000000`, issue 23). SDKs
//! cannot wait for a report to finish before sending their events, and an export
//! client can always wait, so the lanes give, in order:
//!
//! - **ingestion** (decoding, the writer's commits, and the compactor, whose moves are
//!   ingestion's deferred cost and must keep up with it): the process's own priority,
//!   on tokio's blocking pool and the store's own threads. No lane: it is the default.
//! - [`Lane::Interactive`]: queries a person is waiting for (reports, engage, lookups)
//!   and DuckDB's own worker threads, below ingestion;
//! - [`Lane::Bulk`]: export streams, which take what is left.
//!
//! A lane is a thread pool whose threads have a higher nice value (a lower priority) than
//! the process. The kernel weighs runnable threads by it: nice 0 weighs 1024, nice 4
//! 423 and nice 10 110, so an Interactive thread gets about 0.4 of the CPU of an
//! ingestion thread and a Bulk thread a tenth, but any of them takes a core no one else
//! wants. The weights are per thread, and a report runs on several (its own, DuckDB's
//! worker, the funnel kernel's two).
//!
//! Above all of them, where the kernel allows, runs the store's writer
//! ([`boost_current_thread`]): every write waits for its commits, one at a time, and
//! with the process's priority it still spent nearly half of each second waiting for a
//! core among the decoders and the lanes' threads. Measured with the mixed-load bench
//! (`-- 40 1000000`, one run each, on a noisy two-core machine), ingestion's share of
//! its idle rate, and the reports' p99 against idle:
//!
//! | writer | Interactive | ingestion | report p99 |
//! |--------|-------------|-----------|------------|
//! | 0      | nice 6      | 0.42–0.52 | 3.5–4.0×   |
//! | −5     | nice 6      | 0.67      | 4.5×       |
//! | −5     | nice 4      | 0.71      | 4.4×       |
//!
//! On two cores the two families trade one against the other: ingestion at 0.7 of its
//! idle rate takes about 1.05 cores (writer and decoders), and what is left gives four
//! report clients about a quarter of their idle throughput.
//!
//! An unprivileged process can raise a thread's nice value and never lower it again,
//! which is why each lane keeps its own threads instead of lowering tokio's shared ones
//! for a while. Where the kernel refuses (a sandbox without `setpriority`), the lane runs at
//! the process's priority and says so once in the log.
//!
//! Work a request starts on a lane keeps what the request holds ([`Holder`], through
//! [`on_behalf`]): a query's concurrency permit is released when its blocking work has
//! really ended, not when its client left or its deadline passed while DuckDB or a
//! funnel kernel still ran.
//!
//! # Layout
//! - [`Holder`], [`on_behalf`]: what blocking work started for a request keeps alive.
//! - [`boost_current_thread`], [`WRITER_BOOST`]: the store's writer, above the process.
//! - [`Lane`]: the lanes, their nice values, and the ways into one: [`Lane::run`]
//!   (await a closure on the lane's pool), [`Lane::spawn`] (start one and not wait),
//!   [`Lane::enter`] (lower the calling thread for good) and [`Lane::call`] (run a
//!   closure on a new thread of the lane, so the threads it starts inherit the lane).

use std::any::Any;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use tokio::runtime::Runtime;
use tokio::task::JoinError;

/// What a request holds while it is served (a concurrency permit), shared with the
/// blocking work it starts, so that it is let go only when the last of them ends.
#[derive(Clone, Default)]
pub struct Holder(Arc<Mutex<Option<Arc<dyn Any + Send + Sync>>>>);

impl Holder {
    /// From now on, work started under this holder keeps `held` alive too.
    pub fn hold(&self, held: Arc<dyn Any + Send + Sync>) {
        *self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(held);
    }

    /// Lets go of what it holds; work already started keeps its own share.
    pub fn release(&self) {
        self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).take();
    }

    fn current(&self) -> Option<Arc<dyn Any + Send + Sync>> {
        self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).clone()
    }
}

impl std::fmt::Debug for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Holder").field("holds", &self.current().is_some()).finish()
    }
}

tokio::task_local! {
    static ON_BEHALF: Holder;
}

/// Runs `work` (a request's handling) so that the lane work it starts keeps what
/// `holder` holds at that moment until that work has ended.
pub async fn on_behalf<F: Future>(holder: Holder, work: F) -> F::Output {
    ON_BEHALF.scope(holder, work).await
}

/// A class of blocking work with its own priority (see the crate's documentation).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lane {
    /// Reports and other reads somebody is waiting for.
    Interactive,
    /// Export streams and background maintenance.
    Bulk,
}

impl Lane {
    /// How much higher the lane's nice value is than the process's (the kernel's range
    /// is -20, first, to 19, last; a process normally runs at 0).
    pub const fn nice(self) -> i32 {
        match self {
            Lane::Interactive => 4,
            Lane::Bulk => 10,
        }
    }

    /// The name of the lane's pool threads (Linux keeps 15 bytes of a thread's name).
    pub const fn thread_name(self) -> &'static str {
        match self {
            Lane::Interactive => "lane-inter",
            Lane::Bulk => "lane-bulk",
        }
    }

    /// The name of a thread [`Lane::call`] starts, and so of the threads it starts in
    /// turn (DuckDB's workers): told apart from the pool's in `top -H`.
    pub const fn own_thread_name(self) -> &'static str {
        match self {
            Lane::Interactive => "lane-inter-own",
            Lane::Bulk => "lane-bulk-own",
        }
    }

    /// Runs `f` on one of the lane's blocking threads and waits for it. Like
    /// `tokio::task::spawn_blocking`, the work runs to its end even if the caller stops
    /// waiting; stopping it early is the caller's business (an interrupt handle).
    pub async fn run<T, F>(self, f: F) -> Result<T, JoinError>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        self.spawn(f).await
    }

    /// Starts `f` on one of the lane's blocking threads now, for a caller that does not
    /// wait for it (a producer feeding a channel). Under [`on_behalf`], `f` keeps what
    /// the holder holds until it returns.
    pub fn spawn<T, F>(self, f: F) -> tokio::task::JoinHandle<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let held = ON_BEHALF.try_with(Holder::current).ok().flatten();
        self.pool().spawn_blocking(move || {
            let _held = held;
            f()
        })
    }

    /// The nice value the lane's threads get: relative to the process's main thread, so a
    /// server started with `nice` keeps its lanes below itself rather than being raised
    /// to them.
    fn lowered_nice(self) -> i32 {
        (process_nice() + self.nice()).min(19)
    }

    /// Lowers the calling thread into the lane for the rest of its life.
    pub fn enter(self) {
        if let Err(e) = set_own_nice(self.lowered_nice()) {
            static WARNED: AtomicBool = AtomicBool::new(false);
            if !WARNED.swap(true, Ordering::Relaxed) {
                tracing::warn!(
                    lane = self.thread_name(),
                    error = %e,
                    "the kernel refused to lower a thread's priority; every family shares the CPU equally"
                );
            }
        }
    }

    /// Runs `f` on a new thread of the lane and returns what it returns, for work whose
    /// own threads must belong to the lane: a thread starts at its creator's priority,
    /// and DuckDB starts its worker threads when a database opens.
    pub fn call<T: Send>(self, f: impl FnOnce() -> T + Send) -> T {
        let mut job = Some(f);
        let ran = std::thread::scope(|scope| {
            let job = &mut job;
            let worker =
                std::thread::Builder::new().name(self.own_thread_name().into()).spawn_scoped(scope, move || {
                    self.enter();
                    job.take().map(|f| f())
                });
            match worker {
                Ok(handle) => handle.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
                // No thread to be had: the job is still here, and runs below.
                Err(_) => None,
            }
        });
        match (ran, job) {
            (Some(out), _) => out,
            (None, Some(f)) => f(),
            (None, None) => unreachable!("a job that ran returned its answer"),
        }
    }

    fn pool(self) -> &'static Runtime {
        static INTERACTIVE: OnceLock<Runtime> = OnceLock::new();
        static BULK: OnceLock<Runtime> = OnceLock::new();
        let cell = match self {
            Lane::Interactive => &INTERACTIVE,
            Lane::Bulk => &BULK,
        };
        cell.get_or_init(|| {
            // One async worker, which stays idle: the lane's work is all on the runtime's
            // blocking threads, created on demand and let go after ten idle seconds.
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .thread_name(self.thread_name())
                .on_thread_start(move || self.enter())
                .enable_all()
                .build()
                .expect("a lane's thread pool starts (it only needs threads)")
        })
    }
}

/// The process's nice value (its main thread's).
fn process_nice() -> i32 {
    rustix::process::getpriority_process(Some(rustix::process::getpid())).unwrap_or(0)
}

/// Sets the calling thread's nice value.
fn set_own_nice(value: i32) -> rustix::io::Result<()> {
    rustix::process::setpriority_process(Some(rustix::thread::gettid()), value)
}

/// How many nice values above the process the store's writer runs, where the kernel
/// allows it. The writer is the one thread every client's write passes through, one
/// commit at a time, so a core it waits for slows all ingestion at once. In the
/// mixed-load bench (`-- 40 1000000`, two cores) it spent 0.47 s of every second
/// runnable but waiting for a core beside the decoders, reports and exports, and ran
/// 0.40 s (0.62 on an idle server); at −5 it waited 0.16 s and ran 0.55 s.
pub const WRITER_BOOST: i32 = 5;

/// Raises the calling thread `steps` nice values above the process, for good: the
/// store's writer ([`WRITER_BOOST`]). Only a privileged process may (root, or
/// `CAP_SYS_NICE`, which systemd's `AmbientCapabilities=` grants); elsewhere the thread
/// stays at the process's priority, still above every lane, and says so once in the log.
pub fn boost_current_thread(steps: i32) {
    if let Err(e) = set_own_nice((process_nice() - steps).max(-20)) {
        tracing::info!(
            error = %e,
            "the kernel refused to raise the store writer's priority (it needs CAP_SYS_NICE); it runs at the process's"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn own_nice() -> i32 {
        rustix::process::getpriority_process(Some(rustix::thread::gettid())).expect("getpriority")
    }

    #[tokio::test]
    async fn work_runs_at_its_lanes_priority_and_the_caller_keeps_its_own() {
        let before = own_nice();
        for lane in [Lane::Interactive, Lane::Bulk] {
            assert_eq!(lane.run(own_nice).await.expect("ran"), lane.lowered_nice());
            assert_eq!(lane.call(own_nice), lane.lowered_nice());
            // Threads started by lane work inherit the lane, as DuckDB's workers do.
            let inherited = lane.call(|| std::thread::spawn(own_nice).join().expect("joined"));
            assert_eq!(inherited, lane.lowered_nice());
        }
        assert_eq!(own_nice(), before);
    }

    #[tokio::test]
    async fn work_keeps_what_its_request_holds_until_it_ends() {
        let permit: Arc<dyn Any + Send + Sync> = Arc::new("permit");
        let released = Arc::downgrade(&permit);
        let holder = Holder::default();
        holder.hold(permit);
        let (started_tx, started) = tokio::sync::oneshot::channel();
        let (finish, finish_rx) = std::sync::mpsc::channel::<()>();
        let request = on_behalf(holder, async move {
            Lane::Interactive
                .run(move || {
                    let _ = started_tx.send(());
                    let _ = finish_rx.recv();
                })
                .await
        });
        // The request is dropped (its client left) while its work still runs.
        let request = tokio::spawn(request);
        started.await.expect("the work started");
        request.abort();
        let _ = request.await;
        assert!(released.upgrade().is_some(), "released while the work ran");
        finish.send(()).expect("the work waits");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while released.upgrade().is_some() {
            assert!(std::time::Instant::now() < deadline, "never released");
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    }

    #[test]
    fn a_panic_in_a_call_reaches_the_caller() {
        let caught = std::panic::catch_unwind(|| Lane::Bulk.call(|| panic!("boom")));
        assert!(caught.is_err());
    }
}
