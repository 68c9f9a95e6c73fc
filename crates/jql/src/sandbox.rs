//! The JavaScript engine a script runs in: QuickJS (through `rquickjs`), one runtime
//! per script, with nothing but the language, the JQL library and `_`.
//!
//! What a script cannot reach: QuickJS's core has no filesystem, network, timers,
//! process or module loader, and none is added (no `require`, `fetch`, `process`;
//! `import()` finds no loader). What it cannot exhaust: the runtime's heap is capped
//! ([`Limits::memory_bytes`]; past it allocations fail with "out of memory"), its stack
//! is capped (deep recursion is a `RangeError`), and an interrupt handler, which
//! QuickJS calls every few thousand bytecodes and inside its regular-expression matcher,
//! stops the script at its deadline or when the request is dropped.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::time::{Duration, Instant};

use rquickjs::{Context, Ctx, Function, Object, Runtime, Value, context::EvalOptions};

use crate::JqlError;

const PRELUDE: &str = include_str!("prelude.js");
const UNDERSCORE: &str = include_str!("underscore.js");
/// The name errors give the user's script; locations are read back from it.
const SCRIPT_NAME: &str = "script";

/// A script's budget.
#[derive(Clone, Debug)]
pub struct Limits {
    /// The JavaScript heap's cap, bytes.
    pub memory_bytes: usize,
    /// The largest answer, bytes of JSON.
    pub output_bytes: usize,
    /// How long the script may run, reading included.
    pub time: Duration,
}

impl Default for Limits {
    /// 1 GiB of heap (five scripts at once, the JQL family's default concurrency, fit
    /// in 5 GiB of a 24 GiB machine beside the store), 256 MiB of answer, 2 minutes.
    fn default() -> Self {
        Limits { memory_bytes: 1 << 30, output_bytes: 256 << 20, time: Duration::from_secs(120) }
    }
}

/// The engine's stack cap. Tokio's blocking threads have 2 MiB; QuickJS keeps its own
/// count, so a runaway recursion stops well before the thread's guard page.
const STACK_BYTES: usize = 1 << 20;

const RUNNING: u8 = 0;
const TIMED_OUT: u8 = 1;
const CANCELLED: u8 = 2;

/// Why the interrupt handler stopped the script, if it did.
pub(crate) struct Stop {
    deadline: Instant,
    limit: Duration,
    cancelled: Arc<AtomicBool>,
    why: AtomicU8,
}

impl Stop {
    fn check(&self) -> bool {
        if self.cancelled.load(Ordering::Relaxed) {
            self.why.store(CANCELLED, Ordering::Relaxed);
            true
        } else if Instant::now() >= self.deadline {
            self.why.store(TIMED_OUT, Ordering::Relaxed);
            true
        } else {
            false
        }
    }

    /// The error for a stopped script, when it was stopped.
    pub(crate) fn error(&self) -> Option<JqlError> {
        match self.why.load(Ordering::Relaxed) {
            TIMED_OUT => Some(JqlError::Timeout(self.limit.as_secs())),
            CANCELLED => Some(JqlError::Cancelled),
            _ => None,
        }
    }

    /// Fails when the script should stop: checked between batches on the Rust side too.
    pub(crate) fn checkpoint(&self) -> Result<(), JqlError> {
        if self.check() { Err(self.error().unwrap_or(JqlError::Cancelled)) } else { Ok(()) }
    }
}

/// One script's engine.
pub(crate) struct Sandbox {
    // Dropped after the context (fields drop in order).
    context: Context,
    _runtime: Runtime,
    pub(crate) stop: Arc<Stop>,
    limits: Limits,
}

impl Sandbox {
    /// A fresh engine with the JQL library loaded.
    pub(crate) fn new(limits: &Limits, deadline: Instant, cancelled: Arc<AtomicBool>) -> Result<Sandbox, JqlError> {
        let engine = |e: rquickjs::Error| JqlError::Engine(e.to_string());
        let runtime = Runtime::new().map_err(engine)?;
        let stop = Arc::new(Stop { deadline, limit: limits.time, cancelled, why: AtomicU8::new(RUNNING) });
        let handler = stop.clone();
        runtime.set_interrupt_handler(Some(Box::new(move || handler.check())));
        runtime.set_max_stack_size(STACK_BYTES);
        runtime.set_memory_limit(limits.memory_bytes);
        let context = Context::full(&runtime).map_err(engine)?;
        let sandbox = Sandbox { context, _runtime: runtime, stop, limits: limits.clone() };
        sandbox.within(|ctx| {
            eval(ctx, PRELUDE, "sextant-prelude")?;
            eval(ctx, UNDERSCORE, "sextant-underscore")
        })?;
        Ok(sandbox)
    }

    /// Runs the script with `params` (JSON) as the global `params`, calls `main()`, and
    /// answers the source it reads, as JSON.
    pub(crate) fn plan(&self, script: &str, params: &str) -> Result<String, JqlError> {
        self.within(|ctx| {
            let params: Value = ctx.json_parse(params)?;
            ctx.globals().set("params", params)?;
            eval(ctx, script, SCRIPT_NAME)?;
            library(ctx, "plan")?.call(())
        })
    }

    /// Sends one batch of items (a JSON array) through the script's transformations;
    /// `kind` is 0 for events, 1 for profiles, 2 for join items; `partial` when the
    /// events carry only some of their properties.
    pub(crate) fn push(&self, items: &str, kind: u8, partial: bool) -> Result<(), JqlError> {
        self.within(|ctx| library(ctx, "push")?.call((items, kind as i32, partial)))
    }

    /// Drops the first stage: the store answered it ([`crate::native`]).
    pub(crate) fn skip_first_stage(&self) -> Result<(), JqlError> {
        self.within(|ctx| library(ctx, "skipFirstStage")?.call(()))
    }

    /// Ends the input and answers the final collection as a JSON array; `None` when it
    /// holds an event whose properties were read in part.
    pub(crate) fn finish(&self) -> Result<Option<String>, JqlError> {
        let Some(out) = self.within(|ctx| library(ctx, "finish")?.call::<_, Option<String>>(()))? else {
            return Ok(None);
        };
        if out.len() > self.limits.output_bytes {
            return Err(JqlError::Limit(format!(
                "the script's answer is {} MB, more than the limit of {} MB",
                out.len() >> 20,
                self.limits.output_bytes >> 20
            )));
        }
        Ok(Some(out))
    }

    /// Runs `f` in the engine, its failure read as [`Sandbox::fail`] reads it.
    fn within<T>(&self, f: impl for<'js> FnOnce(&Ctx<'js>) -> rquickjs::Result<T>) -> Result<T, JqlError> {
        self.context.with(|ctx| f(&ctx).map_err(|e| self.fail(&ctx, e)))
    }

    /// The error a failed call stands for: a stop, a limit, or the script's own error
    /// with its message and where in the script it happened.
    fn fail(&self, ctx: &Ctx<'_>, e: rquickjs::Error) -> JqlError {
        if let Some(stopped) = self.stop.error() {
            return stopped;
        }
        if !e.is_exception() {
            return match e {
                rquickjs::Error::Allocation => self.out_of_memory(),
                other => JqlError::Script(other.to_string()),
            };
        }
        let thrown = ctx.catch();
        let (name, message, stack) = match thrown.as_exception() {
            Some(exception) => {
                let name: Option<String> = exception.get("name").ok();
                (name, exception.message().unwrap_or_default(), exception.stack().unwrap_or_default())
            }
            None => {
                let text = ctx
                    .json_stringify(thrown.clone())
                    .ok()
                    .flatten()
                    .and_then(|s| s.to_string().ok())
                    .unwrap_or_else(|| "a value that is not an Error".into());
                (None, format!("uncaught {text}"), String::new())
            }
        };
        if message.contains("out of memory") {
            return self.out_of_memory();
        }
        let what = match name {
            Some(name) if !name.is_empty() => format!("{name}: {message}"),
            _ => message,
        };
        match location(&stack) {
            Some((line, column)) => JqlError::Script(format!("{what} (line {line}, column {column})")),
            None => JqlError::Script(what),
        }
    }

    fn out_of_memory(&self) -> JqlError {
        JqlError::Limit(format!("the script used more than its memory limit of {} MB", self.limits.memory_bytes >> 20))
    }
}

/// One of the library's entry points (`__sextant.name`).
fn library<'js>(ctx: &Ctx<'js>, name: &str) -> rquickjs::Result<Function<'js>> {
    ctx.globals().get::<_, Object>("__sextant")?.get(name)
}

fn eval(ctx: &Ctx<'_>, source: &str, name: &str) -> rquickjs::Result<()> {
    let mut options = EvalOptions::default();
    options.global = true;
    options.strict = false;
    options.filename = Some(name.to_string());
    ctx.eval_with_options::<(), _>(source, options)
}

/// The first `script:LINE:COLUMN` in a stack: the innermost frame of the user's
/// script, below any of the library's own.
fn location(stack: &str) -> Option<(u32, u32)> {
    let needle = format!("{SCRIPT_NAME}:");
    let mut rest = stack;
    while let Some(at) = rest.find(&needle) {
        let after = &rest[at + needle.len()..];
        let mut parts = after.splitn(3, |c: char| !c.is_ascii_digit());
        if let (Some(line), Some(column)) = (parts.next(), parts.next())
            && let (Ok(line), Ok(column)) = (line.parse(), column.parse())
            && after.as_bytes().get(line_len(after)) == Some(&b':')
        {
            return Some((line, column));
        }
        rest = after;
    }
    None
}

fn line_len(s: &str) -> usize {
    s.bytes().take_while(u8::is_ascii_digit).count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_are_read_from_the_script_frames() {
        assert_eq!(location("    at f (sextant-prelude:12:3)\n    at main (script:4:17)\n"), Some((4, 17)));
        assert_eq!(location("    at script:2:9\n"), Some((2, 9)));
        assert_eq!(location("    at <eval> (sextant-prelude:1:1)\n"), None);
        assert_eq!(location("script: nothing"), None);
    }
}
