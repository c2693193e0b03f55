//! Scene presets: typed YAML with `extends:` and `--set` overrides.
