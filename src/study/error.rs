//! `StudyError`: bad input (exit 2) or a stage that failed while running (exit 1).
#[derive(Debug, thiserror::Error)]
pub enum StudyError {
    /// The user's input: spec, names, flags, the real folder. One sentence with the fix.
    #[error("{0}")]
    Input(String),
    /// A stage failed while running; the message names the stage.
    #[error("{0}")]
    Stage(String),
    #[error("cannot write {path}: {source}")]
    Io {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
}

impl StudyError {
    pub fn input(msg: impl Into<String>) -> Self {
        StudyError::Input(msg.into())
    }

    pub fn io(path: &std::path::Path, source: std::io::Error) -> Self {
        StudyError::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    pub fn is_input_error(&self) -> bool {
        matches!(self, StudyError::Input(_))
    }
}
