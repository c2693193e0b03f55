//! Checks on every render and on datasets on disk.
