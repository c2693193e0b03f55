//! Loading a preset: resolve the `extends:` chain, check each file on its own, merge them as
//! YAML values (child keys override parent keys recursively; lists and distributions are
//! replaced whole), apply `--set` overrides, then build the typed preset and check its rules.
//! Every error names the file or `--set` that caused it, with line:column where there is one.
use super::checks::{check, Issue};
use super::dist::{is_dist_mapping, show};
use super::error::{Location, PresetError, PresetErrorKind};
use super::locate::{locate_field, segments};
use super::schema::Preset;
use serde_yaml::{Mapping, Value};
use std::path::{Path, PathBuf};

/// One file of the `extends:` chain, kept with its text to locate keys for later errors.
struct PresetFile {
    display: String,
    text: String,
    value: Value,
}

/// A parsed `--set key=value`.
struct Override {
    raw: String,
    path: Vec<String>,
}

impl Preset {
    /// Loads `name_or_path` (a name in `paths::presets_dir()`, else a file path) with its
    /// `extends:` chain and `--set key=value` overrides, and validates the result.
    pub fn load(name_or_path: &str, overrides: &[String]) -> Result<Preset, PresetError> {
        Self::load_in(&crate::paths::presets_dir(), name_or_path, overrides)
    }

    /// As [`Preset::load`], looking names up in `presets_dir`.
    pub fn load_in(
        presets_dir: &Path,
        name_or_path: &str,
        overrides: &[String],
    ) -> Result<Preset, PresetError> {
        let chain = read_chain(presets_dir, name_or_path)?;
        let mut merged = Value::Mapping(Mapping::new());
        for file in chain.iter().rev() {
            merge(&mut merged, file.value.clone());
        }
        let top = &chain[0];
        if let Value::Mapping(m) = &mut merged {
            m.remove("extends");
            if top.value.get("name").is_none() {
                let stem = Path::new(&top.display)
                    .file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_default();
                m.insert("name".into(), Value::String(stem));
            }
        }

        let mut schema = serde_yaml::to_value(Preset::default()).map_err(|e| {
            PresetError::new(PresetErrorKind::Schema, "preset schema", e.to_string())
        })?;
        super::schema::OutputConfig::add_hidden_keys(&mut schema);
        let mut applied = Vec::new();
        for raw in overrides {
            applied.push(apply_override(&mut merged, &schema, raw)?);
        }
        complete_class_factors(&mut merged);

        let preset: Preset = serde_path_to_error::deserialize(merged).map_err(|e| {
            let field = e.path().to_string();
            let message = clean_message(&e.into_inner().to_string());
            blame(&chain, &applied, &field, PresetErrorKind::Schema, message)
        })?;
        check(&preset).map_err(|Issue { field, message }| {
            blame(&chain, &applied, &field, PresetErrorKind::Semantic, message)
        })?;
        Ok(preset)
    }

    /// The fully resolved preset (no `extends:`), loadable as a preset of its own; written
    /// into every output folder so a dataset records exactly what produced it.
    pub fn to_yaml(&self) -> String {
        let body =
            serde_yaml::to_string(self).unwrap_or_else(|e| format!("# unserializable: {e}\n"));
        format!(
            "# Resolved synthgen preset: every field, with `extends:` and `--set` applied.\n{body}"
        )
    }
}

/// Reads the chain child first, detecting cycles by canonical path.
fn read_chain(presets_dir: &Path, name_or_path: &str) -> Result<Vec<PresetFile>, PresetError> {
    let mut chain: Vec<PresetFile> = Vec::new();
    let mut seen: Vec<PathBuf> = Vec::new();
    let mut next = resolve(presets_dir, name_or_path, None)
        .map_err(|message| PresetError::new(PresetErrorKind::NotFound, name_or_path, message))?;
    loop {
        let canonical = next.canonicalize().unwrap_or_else(|_| next.clone());
        if let Some(first) = seen.iter().position(|p| *p == canonical) {
            let mut names: Vec<&str> = chain[first..].iter().map(|f| f.display.as_str()).collect();
            names.push(chain[first].display.as_str());
            let last = chain
                .last()
                .map(|f| (f.display.clone(), locate_field(&f.text, "extends")));
            let (src, loc) = last.unwrap_or_default();
            return Err(PresetError::new(
                PresetErrorKind::ExtendsCycle,
                src,
                format!(
                    "extends cycle {}; remove one of these `extends:`",
                    names.join(" -> ")
                ),
            )
            .at(loc)
            .field("extends"));
        }
        seen.push(canonical);
        let file = read_file(&next)?;
        let parent = file
            .value
            .get("extends")
            .and_then(Value::as_str)
            .map(str::to_string);
        let base_dir = next.parent().map(Path::to_path_buf);
        chain.push(file);
        let Some(parent) = parent else { break };
        next = resolve(presets_dir, &parent, base_dir.as_deref()).map_err(|message| {
            let f = chain.last().expect("chain has the file just read");
            PresetError::new(PresetErrorKind::NotFound, f.display.clone(), message)
                .at(locate_field(&f.text, "extends"))
                .field("extends")
        })?;
    }
    Ok(chain)
}

/// A name in the presets folder first, then a path (relative to the extending file, if any).
fn resolve(presets_dir: &Path, name: &str, relative_to: Option<&Path>) -> Result<PathBuf, String> {
    let named = presets_dir.join(format!("{name}.yaml"));
    if !name.contains('/') && named.is_file() {
        return Ok(named);
    }
    let as_path = match relative_to {
        Some(dir) if Path::new(name).is_relative() => dir.join(name),
        _ => PathBuf::from(name),
    };
    if as_path.is_file() {
        return Ok(as_path);
    }
    Err(format!(
        "no preset named \"{name}\" in {} and no file {}; available presets: {}",
        presets_dir.display(),
        as_path.display(),
        available(presets_dir)
    ))
}

fn available(presets_dir: &Path) -> String {
    let mut names: Vec<String> = std::fs::read_dir(presets_dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let p = e.path();
            (p.extension()? == "yaml")
                .then(|| p.file_stem().map(|s| s.to_string_lossy().into_owned()))?
        })
        .collect();
    names.sort();
    if names.is_empty() {
        "none".to_string()
    } else {
        names.join(", ")
    }
}

/// Shorter path for messages: relative to the current directory when inside it.
fn display_path(path: &Path) -> String {
    let cwd = std::env::current_dir().ok();
    let rel = cwd.as_deref().and_then(|c| path.strip_prefix(c).ok());
    rel.unwrap_or(path).display().to_string()
}

/// Reads one file and checks it against the schema on its own, keeping serde_yaml's positions.
fn read_file(path: &Path) -> Result<PresetFile, PresetError> {
    let display = display_path(path);
    let text = std::fs::read_to_string(path).map_err(|e| {
        PresetError::new(
            PresetErrorKind::Io,
            display.clone(),
            format!("cannot read the file: {e}"),
        )
    })?;
    let value: Value = serde_yaml::from_str(&text).map_err(|e| {
        PresetError::new(
            PresetErrorKind::Syntax,
            display.clone(),
            format!("invalid YAML: {}", clean_message(&e.to_string())),
        )
        .at(e.location().map(|l| Location {
            line: l.line(),
            column: l.column(),
        }))
    })?;
    let value = match value {
        Value::Null => Value::Mapping(Mapping::new()),
        Value::Mapping(_) => value,
        other => {
            return Err(PresetError::new(
                PresetErrorKind::Schema,
                display,
                format!(
                    "a preset is a mapping of keys such as `name:` and `factors:` (got {})",
                    show(&other)
                ),
            )
            .at(Some(Location { line: 1, column: 1 })))
        }
    };
    if !value.as_mapping().is_some_and(Mapping::is_empty) {
        let de = serde_yaml::Deserializer::from_str(&text);
        if let Err(e) = serde_path_to_error::deserialize::<_, Preset>(de) {
            let field = e.path().to_string();
            let inner = e.into_inner();
            let yaml_loc = inner.location().map(|l| Location {
                line: l.line(),
                column: l.column(),
            });
            let key_loc = locate_field(&text, &field);
            // serde_yaml points at the offending token for type errors and unknown keys, but at
            // the enclosing mapping for distribution errors; the key is the better spot then.
            let location = match (yaml_loc, key_loc) {
                (Some(y), Some(k)) if y >= k => Some(y),
                (y, k) => k.or(y),
            };
            return Err(PresetError::new(
                PresetErrorKind::Schema,
                display,
                clean_message(&inner.to_string()),
            )
            .at(location)
            .field(field));
        }
    }
    Ok(PresetFile {
        display,
        text,
        value,
    })
}

/// serde_yaml appends " at line L column C" (and sometimes prefixes its own path); the
/// one-line error carries both separately, so they are removed from the message.
fn clean_message(msg: &str) -> String {
    let mut out = String::with_capacity(msg.len());
    let mut rest = msg;
    while let Some(i) = rest.find(" at line ") {
        out.push_str(&rest[..i]);
        let tail = &rest[i + " at line ".len()..];
        let skip = tail
            .split_once(" column ")
            .map(|(l, c)| {
                let digits = c.chars().take_while(char::is_ascii_digit).count();
                l.len() + " column ".len() + digits
            })
            .filter(|_| tail.starts_with(|c: char| c.is_ascii_digit()))
            .unwrap_or(0);
        rest = &tail[skip..];
        if skip == 0 {
            out.push_str(" at line ");
        }
    }
    out.push_str(rest);
    // A leading "path: " (no spaces in the path) is serde_yaml's own path prefix.
    match out.split_once(": ") {
        Some((head, tail))
            if !head.contains(' ') && !head.is_empty() && head.contains(['.', '[']) =>
        {
            tail.to_string()
        }
        _ => out,
    }
}

/// Child values override parent values; mappings merge key by key, except distributions
/// (`{uniform: ...}`), which replace whole so two forms never mix.
fn merge(base: &mut Value, child: Value) {
    match (base, child) {
        (Value::Mapping(b), Value::Mapping(c)) if !is_dist_mapping(&Value::Mapping(c.clone())) => {
            for (k, v) in c {
                match b.get_mut(&k) {
                    Some(existing) if !is_dist_mapping(existing) => merge(existing, v),
                    _ => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (b, c) => *b = c,
    }
}

/// Each `class_factors` entry lists what it changes: it becomes `factors` with the entry
/// merged over it, so the typed preset holds every class's complete factors (and a resolved
/// preset, whose entries are already complete, loads to the same thing).
fn complete_class_factors(merged: &mut Value) {
    let Value::Mapping(top) = merged else { return };
    let shared = top
        .get("factors")
        .cloned()
        .unwrap_or(Value::Mapping(Mapping::new()));
    if let Some(Value::Mapping(classes)) = top.get_mut("class_factors") {
        for (_, entry) in classes.iter_mut() {
            let mut full = shared.clone();
            // An empty entry (`chair:`) means the class keeps the shared factors.
            let changes = std::mem::take(entry);
            if !changes.is_null() {
                merge(&mut full, changes);
            }
            *entry = full;
        }
    }
}

/// Applies `a.b.c=value` (value parsed as YAML) after checking the path against the schema.
fn apply_override(merged: &mut Value, schema: &Value, raw: &str) -> Result<Override, PresetError> {
    let source = format!("--set {raw}");
    let err = |field: &str, msg: String| {
        PresetError::new(PresetErrorKind::Override, source.clone(), msg).field(field)
    };
    let Some((key, text)) = raw.split_once('=') else {
        return Err(err(
            "",
            "expected key=value, e.g. --set factors.camera.distance=5".into(),
        ));
    };
    let key = key.trim();
    let path: Vec<String> = key.split('.').map(str::to_string).collect();
    if path.iter().any(String::is_empty) {
        return Err(err(
            key,
            "the key has an empty part; write dotted keys like factors.camera.distance".into(),
        ));
    }
    let value: Value = serde_yaml::from_str(text).map_err(|e| {
        err(key, format!("the value is not valid YAML ({}); quote it, e.g. --set '{key}={{uniform: [1, 2]}}'", clean_message(&e.to_string())))
    })?;

    let mut node = schema;
    for (i, seg) in path.iter().enumerate() {
        let here = path[..i].join(".");
        let map = match node {
            Value::Mapping(m) if !is_dist_mapping(node) => m,
            _ => {
                return Err(err(key, format!(
                    "{here} is a single value, not a section; set it whole, e.g. --set '{here}={{uniform: [1, 2]}}'"
                )))
            }
        };
        match map.get(seg.as_str()) {
            Some(child) => node = child,
            None => {
                let valid: Vec<&str> = map.keys().filter_map(Value::as_str).collect();
                let level = if here.is_empty() {
                    "the top level".to_string()
                } else {
                    here
                };
                return Err(err(
                    key,
                    format!(
                        "no field \"{seg}\" at {level}; valid keys: {}",
                        valid.join(", ")
                    ),
                ));
            }
        }
    }

    let mut target = merged;
    for seg in &path {
        if !matches!(target, Value::Mapping(_)) || is_dist_mapping(target) {
            *target = Value::Mapping(Mapping::new());
        }
        let Value::Mapping(m) = target else {
            unreachable!("just made a mapping")
        };
        target = m.entry(Value::String(seg.clone())).or_insert(Value::Null);
    }
    *target = value;
    Ok(Override {
        raw: raw.to_string(),
        path,
    })
}

/// Attributes an error on the merged preset to the last `--set` touching the field, else to
/// the most derived file that sets it (located by key), else to the top file.
fn blame(
    chain: &[PresetFile],
    applied: &[Override],
    field: &str,
    kind: PresetErrorKind,
    message: String,
) -> PresetError {
    let segs = segments(field);
    let overlaps = |o: &Override| o.path.iter().zip(&segs).all(|(a, b)| a == b);
    if let Some(o) = applied.iter().rev().find(|o| overlaps(o)) {
        return PresetError::new(kind, format!("--set {}", o.raw), message).field(field);
    }
    for file in chain {
        if sets_path(&file.value, &segs) {
            return PresetError::new(kind, file.display.clone(), message)
                .at(locate_field(&file.text, field))
                .field(field);
        }
    }
    PresetError::new(kind, chain[0].display.clone(), message).field(field)
}

fn sets_path(value: &Value, segs: &[&str]) -> bool {
    let mut node = value;
    for seg in segs {
        match node.get(*seg) {
            Some(child) => node = child,
            None => return false,
        }
    }
    true
}
