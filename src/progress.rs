//! Progress on long work: a bar (or, without a known length, a counter) with the elapsed time
//! and an ETA on stderr. It appears only once the work has taken a second, only when stderr is
//! a terminal, and never under `--quiet`; so short runs, pipes, logs and tests see nothing.
//! It is cleared when the work ends, leaving stderr as the command's own lines.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How long work runs before its progress is drawn.
const AFTER: Duration = Duration::from_secs(1);

/// The progress of one piece of work (`None` inside: nothing is ever drawn).
pub struct Progress {
    bar: Option<ProgressBar>,
    started: Instant,
    shown: bool,
}

impl Progress {
    /// Progress over `len` steps (`None`: steps counted without a total), described by `what`
    /// (e.g. `points`). Drawn on a terminal only, never when `quiet`.
    pub fn new(len: Option<u64>, what: &str, quiet: bool) -> Progress {
        let bar = (!quiet && std::io::stderr().is_terminal()).then(|| {
            let bar = match len {
                Some(n) => ProgressBar::with_draw_target(Some(n), ProgressDrawTarget::hidden()),
                None => ProgressBar::with_draw_target(None, ProgressDrawTarget::hidden()),
            };
            let template = match len {
                Some(_) => "{msg} [{bar:32}] {pos}/{len} {elapsed} elapsed, {eta} left",
                None => "{msg} {pos} {elapsed} elapsed",
            };
            if let Ok(style) = ProgressStyle::with_template(template) {
                bar.set_style(style.progress_chars("=> "));
            }
            bar.set_message(what.to_string());
            bar
        });
        Progress {
            bar,
            started: Instant::now(),
            shown: false,
        }
    }

    /// One step done.
    pub fn inc(&mut self) {
        let Some(bar) = &self.bar else {
            return;
        };
        bar.inc(1);
        self.reveal();
    }
}

impl Progress {
    /// Runs `work` while a second thread shows how far `started` (a count the work raises
    /// towards `len`) has come: the progress of a simulation, which happens in one call.
    pub fn watch<T>(len: u64, what: &str, quiet: bool, work: impl FnOnce(&AtomicU64) -> T) -> T {
        let started = AtomicU64::new(0);
        let done = AtomicBool::new(false);
        let mut progress = Progress::new(Some(len), what, quiet);
        if progress.bar.is_none() {
            return work(&started);
        }
        std::thread::scope(|s| {
            let watcher = s.spawn(|| {
                while !done.load(Ordering::Relaxed) {
                    // Woken early when the work ends, so a short run does not wait for it.
                    std::thread::park_timeout(Duration::from_millis(100));
                    progress.set(started.load(Ordering::Relaxed));
                }
            });
            let out = work(&started);
            done.store(true, Ordering::Relaxed);
            watcher.thread().unpark();
            out
        })
    }

    /// `pos` steps done.
    fn set(&mut self, pos: u64) {
        let Some(bar) = &self.bar else {
            return;
        };
        bar.set_position(pos);
        self.reveal();
    }

    /// Draws from now on, once the work has run a second.
    fn reveal(&mut self) {
        if let Some(bar) = self.bar.as_ref().filter(|_| !self.shown) {
            if self.started.elapsed() >= AFTER {
                bar.set_draw_target(ProgressDrawTarget::stderr());
                self.shown = true;
            }
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watching_returns_the_work_and_sees_its_count() {
        let got = Progress::watch(3, "steps", true, |n| {
            n.fetch_add(3, Ordering::Relaxed);
            n.load(Ordering::Relaxed)
        });
        assert_eq!(got, 3);
    }

    #[test]
    fn quiet_progress_draws_nothing() {
        let mut p = Progress::new(Some(3), "points", true);
        assert!(p.bar.is_none());
        p.inc();
        assert!(!p.shown);
    }
}
