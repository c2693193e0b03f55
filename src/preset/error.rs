//! `PresetError`: one line that says where (file or `--set`, line:column), which field, and
//! what to do about it.
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PresetErrorKind {
    /// No preset of that name and no such file.
    NotFound,
    /// The file could not be read.
    Io,
    /// Not valid YAML.
    Syntax,
    /// Valid YAML that does not fit the schema (unknown field, wrong type, bad distribution).
    Schema,
    /// Fits the schema but breaks a rule (a range, a name, a combination of fields).
    Semantic,
    /// `extends:` leads back to a file already in the chain.
    ExtendsCycle,
    /// A `--set key=value` that is malformed or names no field.
    Override,
}

/// 1-based line and column in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Location {
    pub line: usize,
    pub column: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct PresetError {
    pub kind: PresetErrorKind,
    /// The file (as the user would type it), `--set key=value`, or the requested name.
    pub source_name: String,
    pub location: Option<Location>,
    /// Dotted field path (`factors.camera.elevation`), when one is known.
    pub field: Option<String>,
    /// What is wrong and the fix, as a sentence.
    pub message: String,
}

impl PresetError {
    pub(crate) fn new(
        kind: PresetErrorKind,
        source_name: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        PresetError {
            kind,
            source_name: source_name.into(),
            location: None,
            field: None,
            message: message.into(),
        }
    }

    pub(crate) fn at(mut self, location: Option<Location>) -> Self {
        self.location = location;
        self
    }

    pub(crate) fn field(mut self, field: impl Into<String>) -> Self {
        let field = field.into();
        self.field = (!field.is_empty() && field != ".").then_some(field);
        self
    }
}

impl fmt::Display for PresetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.source_name)?;
        if let Some(loc) = self.location {
            write!(f, ":{}:{}", loc.line, loc.column)?;
        }
        if let Some(field) = &self.field {
            write!(f, ": {field}")?;
        }
        // Keep the promise of one line even if a message carries a newline.
        write!(f, ": {}", self.message.replace('\n', " "))
    }
}
