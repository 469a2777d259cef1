//! One progress handle passed to each step: a spinner or byte bar on a terminal, plain lines
//! otherwise, cleared before the final output.

use indicatif::{ProgressBar, ProgressStyle};
use std::time::Duration;

/// Progress for a multi-step command.
#[derive(Debug, Clone)]
pub struct Progress {
    fancy: bool,
    quiet: bool,
    bar: Option<ProgressBar>,
}

impl Progress {
    /// `fancy`: draw spinners/bars (stderr is a terminal); otherwise print plain lines.
    pub fn new(fancy: bool, quiet: bool) -> Self {
        Self {
            fancy,
            quiet,
            bar: None,
        }
    }

    /// Start a step: a spinner with `msg`, or a plain `msg…` line.
    pub fn step(&mut self, msg: &str) {
        self.finish_bar();
        if self.quiet {
            return;
        }
        if self.fancy {
            let pb = ProgressBar::new_spinner();
            pb.set_style(
                ProgressStyle::with_template("{spinner} {msg} {elapsed:.dim}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            pb.set_message(msg.to_string());
            pb.enable_steady_tick(Duration::from_millis(100));
            self.bar = Some(pb);
        } else {
            eprintln!("{msg}...");
        }
    }

    /// Start a byte-progress step of `total` bytes.
    pub fn bytes(&mut self, msg: &str, total: u64) {
        self.finish_bar();
        if self.quiet {
            return;
        }
        if self.fancy {
            let pb = ProgressBar::new(total);
            pb.set_style(
                ProgressStyle::with_template(
                    "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
            );
            pb.set_message(msg.to_string());
            self.bar = Some(pb);
        } else {
            eprintln!("{msg} ({total} bytes)...");
        }
    }

    /// Advance the byte bar to `pos`.
    pub fn set_position(&self, pos: u64) {
        if let Some(pb) = &self.bar {
            pb.set_position(pos);
        }
    }

    /// Update the current step's message (a live status line), or print it as a plain line.
    pub fn status(&self, msg: &str) {
        if self.quiet {
            return;
        }
        match &self.bar {
            Some(pb) => pb.set_message(msg.to_string()),
            None => eprintln!("  {msg}"),
        }
    }

    /// Print a line above the spinner (or plainly).
    pub fn println(&self, msg: &str) {
        if self.quiet {
            return;
        }
        match &self.bar {
            Some(pb) => pb.println(msg),
            None => eprintln!("{msg}"),
        }
    }

    /// End the current step with a final line (`✓ msg` on a terminal, `msg` otherwise).
    pub fn done(&mut self, msg: &str) {
        self.finish_bar();
        if self.quiet {
            return;
        }
        if self.fancy {
            eprintln!("{} {msg}", console::style("✓").for_stderr().green());
        } else {
            eprintln!("{msg}");
        }
    }

    /// Clear whatever is drawn, before the final output.
    pub fn clear(&mut self) {
        self.finish_bar();
    }

    fn finish_bar(&mut self) {
        if let Some(pb) = self.bar.take() {
            pb.finish_and_clear();
        }
    }
}
