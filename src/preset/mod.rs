//! Scene presets: typed YAML with `extends:` and `--set` overrides (see docs/PRESETS.md).
//!
//! `dist` parses and draws the distributions of single parameters, `schema` is the typed
//! preset with its defaults, `load` resolves files and overrides, `checks` holds the semantic
//! rules, `locate` finds a field's line in a file and `error` is the one-line error.
mod checks;
pub mod dist;
mod error;
mod load;
mod locate;
mod schema;

pub use checks::MAX_LAMPS;
pub use dist::{CategoryDist, NumberDist};
pub use error::{Location, PresetError, PresetErrorKind};
pub use schema::*;

#[cfg(test)]
mod tests;
