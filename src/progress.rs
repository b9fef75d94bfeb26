//! Progress on long work: a bar (or, without a known length, a counter) with the elapsed time
//! and an ETA on stderr. It appears only once the work has taken a second, only when stderr is
//! a terminal, and never under `--quiet`; so short runs, pipes, logs and tests see nothing.
//! It is cleared when the work ends, leaving stderr as the command's own lines.

use std::io::IsTerminal;
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
        if !self.shown && self.started.elapsed() >= AFTER {
            bar.set_draw_target(ProgressDrawTarget::stderr());
            self.shown = true;
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
    fn quiet_progress_draws_nothing() {
        let mut p = Progress::new(Some(3), "points", true);
        assert!(p.bar.is_none());
        p.inc();
        assert!(!p.shown);
    }
}
