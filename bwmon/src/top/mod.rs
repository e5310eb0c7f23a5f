//! `bwmon top`: the live per-slice view of a running agent, read from its control socket.
//!
//! Read-only: it changes nothing on the agent. [`model`] turns snapshots into rows (rates,
//! projections, sort, filter), [`view`] draws them into any ratatui backend, [`input`] maps keys
//! to actions, [`state`] holds what the operator is looking at, and [`app`] runs the loop.
use std::{path::PathBuf, time::Duration};

use crate::status::ClientError;

pub mod app;
mod detail;
mod header;
pub mod input;
pub mod model;
pub mod state;
pub mod view;

pub use app::{App, SnapshotSource, SocketSource};

/// How `bwmon top` runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TopOptions {
    /// The agent's control socket.
    pub socket: PathBuf,
    /// Time between snapshots (and, with `once`, between the two snapshots rates come from).
    pub interval: Duration,
    /// Print one frame as plain text and exit.
    pub once: bool,
    /// Size of the `once` frame.
    pub width: u16,
    pub height: u16,
}

impl TopOptions {
    /// Defaults: a snapshot a second, interactive, 120x40 for `once`.
    pub fn new(socket: PathBuf) -> Self {
        TopOptions {
            socket,
            interval: Duration::from_secs(1),
            once: false,
            width: 120,
            height: 40,
        }
    }
}

/// Why `bwmon top` stopped.
#[derive(Debug, thiserror::Error)]
pub enum TopError {
    #[error("terminal: {source}")]
    Terminal {
        #[source]
        source: std::io::Error,
    },
    /// `--once` could not get its snapshots.
    #[error(transparent)]
    Agent(#[from] ClientError),
}

/// Runs `bwmon top` against the agent's socket.
pub fn run(opts: TopOptions) -> Result<(), TopError> {
    let source = SocketSource {
        path: opts.socket,
        timeout: opts
            .interval
            .clamp(Duration::from_millis(200), Duration::from_secs(2)),
    };
    if opts.once {
        for line in app::once(source, opts.interval, opts.width, opts.height)? {
            println!("{line}");
        }
        Ok(())
    } else {
        app::interactive(source, opts.interval)
    }
}
