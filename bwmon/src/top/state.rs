//! What the operator is looking at: selection, scroll, open panes, the filter being typed. Actions
//! change it (and the model's sort and filter); nothing here does I/O.
use super::input::{Action, Mode};
use super::model::{Model, Sort};

/// The explain text of the slice in the detail pane.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Explain {
    Text(String),
    Failed(String),
}

/// UI state between frames.
#[derive(Clone, Debug)]
pub struct UiState {
    pub mode: Mode,
    /// The filter as typed so far (applied to the model as it is typed).
    pub filter_input: String,
    /// Selected row among the visible ones, and its slice (followed across updates).
    pub selected: usize,
    pub selected_name: Option<String>,
    /// First visible row; kept by the view so the selection stays on screen.
    pub offset: usize,
    /// Table rows on screen at the last frame (for PgUp/PgDn).
    pub page: usize,
    pub detail: bool,
    pub explain: Option<(String, Explain)>,
    pub help: bool,
    /// Set while the agent cannot be reached: the message to show.
    pub error: Option<String>,
    /// Wall-clock Unix seconds of the frame, for "last sync 3s ago"; `None`: the snapshot's time.
    pub clock: Option<u64>,
    pub quit: bool,
}

impl Default for UiState {
    fn default() -> Self {
        UiState {
            mode: Mode::Normal,
            filter_input: String::new(),
            selected: 0,
            selected_name: None,
            offset: 0,
            page: 10,
            detail: false,
            explain: None,
            help: false,
            error: None,
            clock: None,
            quit: false,
        }
    }
}

/// I/O an action calls for, done by the app.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Effect {
    /// Fetch the explain text of this slice.
    Explain(String),
}

impl UiState {
    /// Applies an action; returns I/O to do, if any.
    pub fn apply(&mut self, action: Action, model: &mut Model) -> Option<Effect> {
        let len = model.visible_len();
        let last = len.saturating_sub(1);
        let page = self.page.max(1);
        match action {
            Action::Quit => self.quit = true,
            Action::Up => self.select(self.selected.saturating_sub(1), model),
            Action::Down => self.select((self.selected + 1).min(last), model),
            Action::PageUp => self.select(self.selected.saturating_sub(page), model),
            Action::PageDown => self.select((self.selected + page).min(last), model),
            Action::Home => self.select(0, model),
            Action::End => self.select(last, model),
            Action::NextSort => {
                let s = model.sort();
                model.set_sort(Sort {
                    column: s.column.next(),
                    reverse: false,
                });
                self.follow(model);
            }
            Action::ReverseSort => {
                let s = model.sort();
                model.set_sort(Sort {
                    reverse: !s.reverse,
                    ..s
                });
                self.follow(model);
            }
            Action::SortBy(column) => {
                model.set_sort(Sort {
                    column,
                    reverse: false,
                });
                self.follow(model);
            }
            Action::StartFilter => {
                self.mode = Mode::Filter;
                self.help = false;
            }
            Action::FilterChar(c) => {
                self.filter_input.push(c);
                self.refilter(model);
            }
            Action::FilterBackspace => {
                self.filter_input.pop();
                self.refilter(model);
            }
            Action::FilterAccept => self.mode = Mode::Normal,
            Action::FilterCancel => {
                self.mode = Mode::Normal;
                self.filter_input.clear();
                self.refilter(model);
            }
            Action::ToggleDetail => {
                if self.detail {
                    self.detail = false;
                } else if let Some(row) = model.visible(self.selected) {
                    self.detail = true;
                    self.help = false;
                    return Some(Effect::Explain(row.slice.name.clone()));
                }
            }
            Action::Back => {
                if self.help {
                    self.help = false;
                } else if self.detail {
                    self.detail = false;
                } else if !self.filter_input.is_empty() {
                    self.filter_input.clear();
                    self.refilter(model);
                }
            }
            Action::ToggleHelp => self.help = !self.help,
        }
        None
    }

    fn select(&mut self, index: usize, model: &Model) {
        self.selected = index;
        self.selected_name = model.visible(index).map(|r| r.slice.name.clone());
    }

    fn refilter(&mut self, model: &mut Model) {
        model.set_filter(&self.filter_input);
        self.follow(model);
    }

    /// After the rows changed (new snapshot, sort, filter): keeps the same slice selected if it
    /// is still shown, else the same position, clamped.
    pub fn follow(&mut self, model: &Model) {
        let found = self
            .selected_name
            .as_deref()
            .and_then(|n| model.position(n));
        let index = found.unwrap_or(self.selected.min(model.visible_len().saturating_sub(1)));
        self.select(index, model);
    }

    /// The first row to draw so that the selection is on a screen of `rows` rows.
    pub fn scroll(&mut self, rows: usize, len: usize) -> usize {
        self.page = rows.max(1);
        if self.selected < self.offset {
            self.offset = self.selected;
        } else if self.selected >= self.offset + self.page {
            self.offset = self.selected + 1 - self.page;
        }
        self.offset = self.offset.min(len.saturating_sub(self.page));
        self.offset
    }
}
