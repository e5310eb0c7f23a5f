//! The loop: fetch snapshots every interval, read keys, draw. Snapshots come through
//! [`SnapshotSource`] so tests can feed their own.
use std::{
    io,
    path::PathBuf,
    thread,
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use ratatui::{
    Terminal,
    backend::{Backend, TestBackend},
    crossterm::{
        cursor::Show,
        event::{self, Event},
        execute,
    },
};

use super::input;
use super::model::Model;
use super::state::{Effect, Explain, UiState};
use super::{TopError, view};
use crate::status::{self, ClientError, Request, Response, Snapshot};
use crate::units::format_duration;

/// Where snapshots come from.
pub trait SnapshotSource {
    fn fetch(&mut self) -> Result<Snapshot, ClientError>;
    /// The agent's explanation of a slice's ceiling.
    fn explain(&mut self, slice: &str) -> Result<String, ClientError>;
    /// Where the agent is expected, for messages.
    fn location(&self) -> String;
}

/// The agent's control socket.
#[derive(Clone, Debug)]
pub struct SocketSource {
    pub path: PathBuf,
    pub timeout: Duration,
}

impl SnapshotSource for SocketSource {
    fn fetch(&mut self) -> Result<Snapshot, ClientError> {
        status::fetch(&self.path, self.timeout)
    }

    fn explain(&mut self, slice: &str) -> Result<String, ClientError> {
        let req = Request::Explain {
            slice: slice.to_owned(),
        };
        match status::request(&self.path, &req, self.timeout)? {
            Response::Explain { text, .. } => Ok(text),
            _ => Err(ClientError::Agent(
                "unexpected answer to explain".to_owned(),
            )),
        }
    }

    fn location(&self) -> String {
        self.path.display().to_string()
    }
}

/// The reason behind a client error, without the path the message repeats.
fn cause(e: &ClientError) -> String {
    match e {
        ClientError::Connect { source, .. } | ClientError::Io { source, .. } => source.to_string(),
        other => other.to_string(),
    }
}

/// Model, UI state and source together.
pub struct App<S> {
    pub source: S,
    pub model: Model,
    pub ui: UiState,
    pub interval: Duration,
}

impl<S: SnapshotSource> App<S> {
    pub fn new(source: S, interval: Duration) -> Self {
        App {
            source,
            model: Model::new(),
            ui: UiState::default(),
            interval,
        }
    }

    /// Fetches one snapshot: folds it into the model, or notes that the agent is unreachable.
    pub fn poll(&mut self) -> Result<(), ClientError> {
        match self.source.fetch() {
            Ok(snap) => {
                self.model.update(snap);
                self.ui.follow(&self.model);
                self.ui.error = None;
                Ok(())
            }
            Err(e) => {
                self.ui.error = Some(format!(
                    "agent not reachable at {}: {}, retrying every {}",
                    self.source.location(),
                    cause(&e),
                    format_duration(self.interval)
                ));
                Err(e)
            }
        }
    }

    /// Applies a key's action, doing the I/O it calls for.
    pub fn handle(&mut self, action: input::Action) {
        if let Some(Effect::Explain(name)) = self.ui.apply(action, &mut self.model) {
            let text = match self.source.explain(&name) {
                Ok(t) => Explain::Text(t),
                Err(e) => Explain::Failed(e.to_string()),
            };
            self.ui.explain = Some((name, text));
        }
    }

    /// Draws one frame.
    pub fn draw<B: Backend>(&mut self, terminal: &mut Terminal<B>) -> Result<(), B::Error> {
        terminal.draw(|f| view::render(f, &self.model, &mut self.ui))?;
        Ok(())
    }
}

/// The frame as plain text lines, `width` x `height`.
pub fn frame_text<S: SnapshotSource>(app: &mut App<S>, width: u16, height: u16) -> Vec<String> {
    let mut terminal = match Terminal::new(TestBackend::new(width, height)) {
        Ok(t) => t,
        Err(never) => match never {},
    };
    if let Err(never) = app.draw(&mut terminal) {
        match never {}
    }
    view::to_text(terminal.backend().buffer())
}

/// `--once`: two snapshots `interval` apart (more, up to two sync intervals, if the agent has not
/// synced in between) so rates are real, then one frame as text.
pub fn once<S: SnapshotSource>(
    source: S,
    interval: Duration,
    width: u16,
    height: u16,
) -> Result<Vec<String>, TopError> {
    let mut app = App::new(source, interval);
    app.poll()?;
    let first = app.model.snapshot().map_or(0, |s| s.now_unix);
    let sync = app.model.snapshot().map_or(Duration::ZERO, |s| {
        Duration::from_millis(s.node.sync_interval_ms)
    });
    let deadline = Instant::now() + interval + 2 * sync;
    loop {
        thread::sleep(interval);
        app.poll()?;
        let now = app.model.snapshot().map_or(0, |s| s.now_unix);
        if now != first || Instant::now() >= deadline {
            break;
        }
    }
    app.ui.clock = Some(wall_clock());
    Ok(frame_text(&mut app, width, height))
}

fn wall_clock() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Leaves raw mode and the alternate screen when dropped: on return and on error alike (the
/// panic hook `ratatui::try_init` installs covers panics).
struct Restore;

impl Drop for Restore {
    fn drop(&mut self) {
        // Best effort: nothing sensible is left to do if the terminal refuses.
        let _ = ratatui::try_restore();
        let _ = execute!(io::stdout(), Show);
    }
}

/// The interactive loop, until `q` or Ctrl-C.
pub fn interactive<S: SnapshotSource>(source: S, interval: Duration) -> Result<(), TopError> {
    let terminal_err = |source| TopError::Terminal { source };
    let mut terminal = ratatui::try_init().map_err(terminal_err)?;
    let _restore = Restore;
    let mut app = App::new(source, interval);
    let mut next_fetch = Instant::now();
    let mut dirty = true;
    while !app.ui.quit {
        if Instant::now() >= next_fetch {
            // An unreachable agent is shown on screen and retried: not an error here.
            let _ = app.poll();
            next_fetch = Instant::now() + interval;
            dirty = true;
        }
        if dirty {
            app.ui.clock = Some(wall_clock());
            app.draw(&mut terminal).map_err(terminal_err)?;
            dirty = false;
        }
        let wait = next_fetch.saturating_duration_since(Instant::now());
        if event::poll(wait).map_err(terminal_err)? {
            match event::read().map_err(terminal_err)? {
                Event::Key(key) => {
                    if let Some(action) = input::map(key, app.ui.mode) {
                        app.handle(action);
                        dirty = true;
                    }
                }
                Event::Resize(..) => {
                    terminal.autoresize().map_err(terminal_err)?;
                    dirty = true;
                }
                _ => {}
            }
        }
    }
    Ok(())
}
