//! The two destination classes and a pair of values, one per class.
use serde::{Deserialize, Serialize};

/// A destination class: `Normal` destinations share the node cap, `Exempt` ones do not.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Class {
    Normal,
    Exempt,
}

impl Class {
    /// Both classes, normal first.
    pub const ALL: [Class; 2] = [Class::Normal, Class::Exempt];

    /// The word used in messages and explanations.
    pub fn label(self) -> &'static str {
        match self {
            Class::Normal => "normal",
            Class::Exempt => "exempt",
        }
    }
}

/// One value per class.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PerClass<T> {
    pub normal: T,
    pub exempt: T,
}

impl<T> PerClass<T> {
    pub fn new(normal: T, exempt: T) -> Self {
        PerClass { normal, exempt }
    }

    /// Builds both values from a function of the class.
    pub fn from_fn(mut f: impl FnMut(Class) -> T) -> Self {
        PerClass {
            normal: f(Class::Normal),
            exempt: f(Class::Exempt),
        }
    }

    pub fn get(&self, class: Class) -> &T {
        match class {
            Class::Normal => &self.normal,
            Class::Exempt => &self.exempt,
        }
    }

    pub fn get_mut(&mut self, class: Class) -> &mut T {
        match class {
            Class::Normal => &mut self.normal,
            Class::Exempt => &mut self.exempt,
        }
    }
}
