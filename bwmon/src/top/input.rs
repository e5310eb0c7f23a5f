//! Keys → actions. Pure: which key does what, in which mode.
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use super::model::SortColumn;

/// Something the operator asked for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    Quit,
    Up,
    Down,
    PageUp,
    PageDown,
    Home,
    End,
    /// Sort by the next column (`s`).
    NextSort,
    /// Flip the order (`S`).
    ReverseSort,
    /// Sort by this column (number keys).
    SortBy(SortColumn),
    /// Start typing a filter (`/`).
    StartFilter,
    FilterChar(char),
    FilterBackspace,
    /// Keep the filter and leave the prompt (Enter).
    FilterAccept,
    /// Clear the filter and leave the prompt (Esc).
    FilterCancel,
    /// Open or close the detail pane of the selected slice (Enter).
    ToggleDetail,
    /// Close whatever is open: help, detail, the filter (Esc).
    Back,
    ToggleHelp,
}

/// What mode keys are read in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Normal,
    /// Typing a filter after `/`.
    Filter,
}

/// The action of a key, if any. Key releases (reported by some terminals) do nothing.
pub fn map(key: KeyEvent, mode: Mode) -> Option<Action> {
    if key.kind == KeyEventKind::Release {
        return None;
    }
    if key.modifiers.contains(KeyModifiers::CONTROL) {
        return matches!(key.code, KeyCode::Char('c') | KeyCode::Char('d')).then_some(Action::Quit);
    }
    if mode == Mode::Filter {
        return match key.code {
            KeyCode::Enter => Some(Action::FilterAccept),
            KeyCode::Esc => Some(Action::FilterCancel),
            KeyCode::Backspace => Some(Action::FilterBackspace),
            KeyCode::Char(c) => Some(Action::FilterChar(c)),
            _ => None,
        };
    }
    Some(match key.code {
        KeyCode::Char('q') => Action::Quit,
        KeyCode::Up | KeyCode::Char('k') => Action::Up,
        KeyCode::Down | KeyCode::Char('j') => Action::Down,
        KeyCode::PageUp => Action::PageUp,
        KeyCode::PageDown | KeyCode::Char(' ') => Action::PageDown,
        KeyCode::Home | KeyCode::Char('g') => Action::Home,
        KeyCode::End | KeyCode::Char('G') => Action::End,
        KeyCode::Char('s') => Action::NextSort,
        KeyCode::Char('S') => Action::ReverseSort,
        KeyCode::Char(c @ '0'..='9') => {
            let i = (c as usize - '0' as usize + 9) % 10;
            Action::SortBy(*SortColumn::ALL.get(i)?)
        }
        KeyCode::Char('/') => Action::StartFilter,
        KeyCode::Enter => Action::ToggleDetail,
        KeyCode::Esc => Action::Back,
        KeyCode::Char('?') | KeyCode::Char('h') | KeyCode::F(1) => Action::ToggleHelp,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(code: KeyCode) -> KeyEvent {
        KeyEvent::new(code, KeyModifiers::NONE)
    }

    #[test]
    fn keys_map_to_actions_by_mode() {
        assert_eq!(
            map(key(KeyCode::Char('q')), Mode::Normal),
            Some(Action::Quit)
        );
        assert_eq!(
            map(key(KeyCode::Char('q')), Mode::Filter),
            Some(Action::FilterChar('q'))
        );
        let ctrl_c = KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL);
        assert_eq!(map(ctrl_c, Mode::Filter), Some(Action::Quit));
        assert_eq!(
            map(key(KeyCode::Char('1')), Mode::Normal),
            Some(Action::SortBy(SortColumn::Rate))
        );
        assert_eq!(
            map(key(KeyCode::Char('2')), Mode::Normal),
            Some(Action::SortBy(SortColumn::Name))
        );
        assert_eq!(
            map(key(KeyCode::Char('0')), Mode::Normal),
            Some(Action::SortBy(SortColumn::Eta))
        );
        assert_eq!(
            map(key(KeyCode::Esc), Mode::Filter),
            Some(Action::FilterCancel)
        );
        assert_eq!(
            map(key(KeyCode::Enter), Mode::Normal),
            Some(Action::ToggleDetail)
        );
        assert_eq!(map(key(KeyCode::Char('x')), Mode::Normal), None);
        let mut release = key(KeyCode::Char('q'));
        release.kind = KeyEventKind::Release;
        assert_eq!(map(release, Mode::Normal), None);
    }
}
