//! Progress bars on stderr: one for a run or a planning command's points, driven by the
//! engine's progress callback, and a plain one for calibration's measurements.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

pub(crate) fn bar(len: u64, what: &str) -> ProgressBar {
    let b = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
    b.set_style(
        ProgressStyle::with_template(&format!(
            "{what} [{{bar:40}}] {{pos}}/{{len}} {{msg}} (eta {{eta}})"
        ))
        .expect("valid template")
        .progress_chars("=> "),
    );
    b
}

/// Sets its flag when dropped, so that the progress thread ends even if the engine panics.
struct FinishOnDrop<'a>(&'a AtomicBool);

impl Drop for FinishOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// Runs `work`, which reports progress through the function it is given; after a second, shows
/// a progress bar of length `len` on stderr until it is done. If `work` panics, the bar's thread
/// still ends and the panic goes on (the process exits non-zero instead of hanging).
pub(crate) fn with_progress<T>(
    len: u64,
    unit: &str,
    work: impl FnOnce(&(dyn Fn(u64) + Sync)) -> T,
) -> T {
    let done = AtomicU64::new(0);
    let finished = AtomicBool::new(false);
    std::thread::scope(|scope| {
        scope.spawn(|| {
            let started = Instant::now();
            let mut bar: Option<ProgressBar> = None;
            while !finished.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(50));
                if bar.is_none() && started.elapsed() > Duration::from_secs(1) {
                    let b = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
                    b.set_style(
                        ProgressStyle::with_template(&format!(
                            "{{elapsed_precise}} [{{bar:40}}] {{percent:>3}}% {{human_pos}} {unit} ({{per_sec}}, eta {{eta}})"
                        ))
                        .expect("valid template")
                        .progress_chars("=> "),
                    );
                    bar = Some(b);
                }
                if let Some(b) = &bar {
                    b.set_position(done.load(Ordering::Relaxed));
                }
            }
            if let Some(b) = bar {
                b.finish_and_clear();
            }
        });
        let _finish = FinishOnDrop(&finished);
        work(&|n| {
            done.fetch_add(n, Ordering::Relaxed);
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A panic inside the work ends the progress thread and reaches the caller; before, the
    /// bar's thread waited forever for a "finished" flag the panic skipped.
    #[test]
    fn a_panic_in_the_work_does_not_hang() {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let outcome = std::panic::catch_unwind(|| {
                with_progress(10, "requests", |tick| {
                    tick(3);
                    panic!("engine bug")
                })
            });
            let _ = tx.send(outcome.is_err());
        });
        // Generous: the thread ends within one 50 ms poll of the flag; this only has to tell
        // "ended" from "hangs forever".
        let panicked = rx.recv_timeout(Duration::from_secs(120)).expect("no hang");
        assert!(panicked);
    }
}
