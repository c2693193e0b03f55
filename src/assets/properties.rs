//! A reader for Java `.properties` files as Sweet Home 3D writes them: ISO-8859-1 bytes,
//! `#`/`!` comments, `key=value` / `key:value` / `key value`, backslash line continuations,
//! and the escapes `\uXXXX`, `\t`, `\n`, `\r`, `\f` and `\<any>` (for `\=`, `\:`, `\\`, ...).
use std::collections::HashMap;

/// A syntax error, with the 1-based physical line it starts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PropertiesError {
    pub line: usize,
    pub message: String,
}

/// Parsed properties; a key given twice keeps its last value, as in Java.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Properties {
    values: HashMap<String, String>,
}

impl Properties {
    pub fn get(&self, key: &str) -> Option<&str> {
        self.values.get(key).map(String::as_str)
    }

    pub fn len(&self) -> usize {
        self.values.len()
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.values.keys().map(String::as_str)
    }
}

/// Decodes ISO-8859-1: every byte is the code point of the same value.
pub fn decode_latin1(bytes: &[u8]) -> String {
    bytes.iter().map(|&b| char::from(b)).collect()
}

/// Parses the raw bytes of a `.properties` file.
pub fn parse_properties(bytes: &[u8]) -> Result<Properties, PropertiesError> {
    let text = decode_latin1(bytes);
    let mut values = HashMap::new();
    for (line_no, logical) in logical_lines(&text) {
        let (raw_key, raw_value) = split_key_value(&logical);
        let key = unescape(raw_key).map_err(|message| PropertiesError {
            line: line_no,
            message: format!("in key: {message}"),
        })?;
        let value = unescape(raw_value).map_err(|message| PropertiesError {
            line: line_no,
            message: format!("in the value of `{key}`: {message}"),
        })?;
        values.insert(key, value);
    }
    Ok(Properties { values })
}

/// Joins continued lines and drops blanks and comments; yields (first physical line, text).
/// The text keeps its escapes, so that `\\` at a line end is told apart from a continuation.
fn logical_lines(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut current: Option<(usize, String)> = None;
    for (index, raw) in text.split('\n').enumerate() {
        let raw = raw.strip_suffix('\r').unwrap_or(raw);
        let line = raw.trim_start_matches([' ', '\t', '\u{c}']);
        let (start, mut acc) = match current.take() {
            Some(pending) => pending,
            None => {
                if line.is_empty() || line.starts_with('#') || line.starts_with('!') {
                    continue;
                }
                (index + 1, String::new())
            }
        };
        if ends_with_odd_backslashes(line) {
            acc.push_str(&line[..line.len() - 1]);
            current = Some((start, acc));
        } else {
            acc.push_str(line);
            out.push((start, acc));
        }
    }
    // A continuation on the very last line simply ends the file.
    if let Some(pending) = current {
        out.push(pending);
    }
    out
}

fn ends_with_odd_backslashes(line: &str) -> bool {
    line.bytes().rev().take_while(|&b| b == b'\\').count() % 2 == 1
}

/// Splits at the first unescaped `=`, `:` or whitespace, then skips the separator.
fn split_key_value(line: &str) -> (&str, &str) {
    let bytes = line.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'=' | b':' | b' ' | b'\t' | b'\x0c' => break,
            _ => i += 1,
        }
    }
    let key_end = i.min(bytes.len());
    let rest = &line[key_end..];
    let rest = rest.trim_start_matches([' ', '\t', '\u{c}']);
    let rest = rest
        .strip_prefix('=')
        .or_else(|| rest.strip_prefix(':'))
        .unwrap_or(rest);
    let value = rest.trim_start_matches([' ', '\t', '\u{c}']);
    (&line[..key_end], value)
}

fn unescape(raw: &str) -> Result<String, String> {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('f') => out.push('\u{c}'),
            Some('u') => {
                let hex: String = chars.by_ref().take(4).collect();
                let code = (hex.len() == 4)
                    .then(|| u32::from_str_radix(&hex, 16).ok())
                    .flatten()
                    .ok_or_else(|| format!("`\\u{hex}` is not a \\uXXXX escape (4 hex digits)"))?;
                out.push(decode_utf16_unit(code, &mut chars)?);
            }
            Some(other) => out.push(other),
            // A lone trailing backslash (end of file) stands for nothing.
            None => {}
        }
    }
    Ok(out)
}

/// Java writes characters outside the BMP as two `\u` surrogate escapes.
fn decode_utf16_unit(code: u32, rest: &mut std::str::Chars<'_>) -> Result<char, String> {
    if !(0xD800..0xDC00).contains(&code) {
        return char::from_u32(code).ok_or_else(|| format!("`\\u{code:04X}` is a lone surrogate"));
    }
    let lookahead: String = rest.clone().take(6).collect();
    let low = lookahead
        .strip_prefix("\\u")
        .and_then(|h| u32::from_str_radix(h, 16).ok())
        .filter(|low| (0xDC00..0xE000).contains(low))
        .ok_or_else(|| format!("`\\u{code:04X}` (high surrogate) is not followed by a low one"))?;
    for _ in 0..6 {
        rest.next();
    }
    let combined = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00);
    char::from_u32(combined).ok_or_else(|| format!("bad surrogate pair at `\\u{code:04X}`"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &[u8]) -> Properties {
        parse_properties(text).expect("valid properties")
    }

    #[test]
    fn separators_comments_and_blank_lines() {
        let p = parse(b"# comment\n! also comment\n\na=1\nb : 2\nc 3\n  d=  spaced value  \ne=\n");
        assert_eq!(p.get("a"), Some("1"));
        assert_eq!(p.get("b"), Some("2"));
        assert_eq!(p.get("c"), Some("3"));
        assert_eq!(p.get("d"), Some("spaced value  "));
        assert_eq!(p.get("e"), Some(""));
        assert_eq!(p.len(), 5);
    }

    #[test]
    fn keys_with_hash_and_escaped_separators() {
        let p = parse(b"name#12=TV 16\\:9\nid#1=Blend Swap CC-0#armchair\nk\\=x\\ y=v\n");
        assert_eq!(p.get("name#12"), Some("TV 16:9"));
        assert_eq!(p.get("id#1"), Some("Blend Swap CC-0#armchair"));
        assert_eq!(p.get("k=x y"), Some("v"));
    }

    #[test]
    fn unicode_and_control_escapes() {
        let p =
            parse(b"a=Bill 10\\u20ac\nb=tab\\there\\nnext\nc=back\\\\slash\nd=\\uD83D\\uDE00\n");
        assert_eq!(p.get("a"), Some("Bill 10\u{20ac}"));
        assert_eq!(p.get("b"), Some("tab\there\nnext"));
        assert_eq!(p.get("c"), Some("back\\slash"));
        assert_eq!(p.get("d"), Some("\u{1F600}"));
    }

    #[test]
    fn continuation_lines_join_and_strip_leading_space() {
        let p = parse(b"tags#1=Blend Swap, \\\n      Seat, \\\n\tOutdoor\nnext=1\r\nwin=crlf\\\r\n  joined\r\n");
        assert_eq!(p.get("tags#1"), Some("Blend Swap, Seat, Outdoor"));
        assert_eq!(p.get("next"), Some("1"));
        assert_eq!(p.get("win"), Some("crlfjoined"));
    }

    #[test]
    fn even_backslashes_at_line_end_do_not_continue() {
        let p = parse(b"path=C:\\\\\nother=2\n");
        assert_eq!(p.get("path"), Some("C:\\"));
        assert_eq!(p.get("other"), Some("2"));
    }

    #[test]
    fn iso_8859_1_bytes_decode_to_their_code_points() {
        // 0xE9 = e acute, 0xA9 = copyright sign in ISO-8859-1 (invalid as UTF-8).
        let p = parse(b"name=Caf\xe9\nlicense=Copyright \xa9 2008\n");
        assert_eq!(p.get("name"), Some("Caf\u{e9}"));
        assert_eq!(p.get("license"), Some("Copyright \u{a9} 2008"));
    }

    #[test]
    fn later_duplicate_wins() {
        let p = parse(b"a=1\na=2\n");
        assert_eq!(p.get("a"), Some("2"));
    }

    #[test]
    fn malformed_unicode_escape_reports_its_line() {
        let err = parse_properties(b"ok=1\n\nbad=x\\u12G4\n").unwrap_err();
        assert_eq!(err.line, 3);
        assert!(err.message.contains("bad"), "{}", err.message);
        let err = parse_properties(b"bad=\\u12").unwrap_err();
        assert_eq!(err.line, 1);
    }
}
