//! Finds where a dotted field path is written in a YAML file, by indentation.
//!
//! Merged values and typed presets carry no positions, so semantic errors find the key in the
//! file that set it. Block mappings are followed exactly; a path that continues inside a flow
//! mapping (`camera: {distance: 3}`) resolves to its deepest block key.
use super::error::Location;

/// Segments of a field path: `factors.light.count` -> [factors, light, count];
/// `classes[2]` -> [classes] (list items are not located individually).
pub fn segments(field: &str) -> Vec<&str> {
    field
        .split('.')
        .map(|s| s.split('[').next().unwrap_or(s))
        .filter(|s| !s.is_empty())
        .collect()
}

/// Location of the deepest key of `field` found in `text` (None if even the first is absent).
pub fn locate_field(text: &str, field: &str) -> Option<Location> {
    let lines: Vec<&str> = text.lines().collect();
    let mut best = None;
    let mut from = 0;
    let mut parent_indent: Option<usize> = None;
    for seg in segments(field) {
        let mut child_indent = None;
        let mut found = None;
        for (i, line) in lines.iter().enumerate().skip(from) {
            let trimmed = line.trim_start();
            if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with("---") {
                continue;
            }
            let indent = line.len() - trimmed.len();
            if parent_indent.is_some_and(|p| indent <= p) {
                break;
            }
            // Only direct children of the parent key count (the first one sets the indent).
            if *child_indent.get_or_insert(indent) != indent {
                continue;
            }
            if key_of(trimmed) == Some(seg) {
                found = Some((i, indent));
                break;
            }
        }
        let Some((i, indent)) = found else { break };
        best = Some(Location {
            line: i + 1,
            column: indent + 1,
        });
        from = i + 1;
        parent_indent = Some(indent);
    }
    best
}

/// The key of a `key: value` line (quotes removed), if the line is one.
fn key_of(trimmed: &str) -> Option<&str> {
    let (key, rest) = trimmed.split_once(':')?;
    if !(rest.is_empty() || rest.starts_with(char::is_whitespace)) {
        return None;
    }
    Some(key.trim().trim_matches(|c| c == '"' || c == '\''))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "\
name: demo
# comment
factors:
  light:
    count: 2
  camera:
    distance: 3
    elevation: {uniform: [40, 10]}
camera:
  elevation: 1
";

    #[test]
    fn finds_nested_keys_in_their_own_block() {
        let loc = locate_field(TEXT, "factors.camera.elevation").unwrap();
        assert_eq!((loc.line, loc.column), (8, 5));
        let loc = locate_field(TEXT, "camera.elevation").unwrap();
        assert_eq!((loc.line, loc.column), (10, 3));
        assert_eq!(locate_field(TEXT, "factors.light.count").unwrap().line, 5);
    }

    #[test]
    fn stops_at_the_deepest_key_present() {
        // `light` has no `kind`: the error points at `light`.
        assert_eq!(locate_field(TEXT, "factors.light.kind").unwrap().line, 4);
        assert_eq!(locate_field(TEXT, "seed"), None);
        assert_eq!(segments("classes[2]"), vec!["classes"]);
    }
}
