//! Class maps: YAML rules that give a catalog model its dataset class from its name,
//! category and tags. Rules are tried in file order and the first match wins, so an
//! ambiguous name ("Table lamp") goes to whichever class is listed first.
//!
//! Keywords match whole words, case-insensitively: "bed" matches "Bunk bed" but not
//! "Bedside table". A keyword of several words matches them in sequence ("coffee cup");
//! a trailing `*` matches a word prefix ("lamp*" matches "lamppost").
use super::entry::ModelEntry;
use super::error::AssetError;
use serde::Deserialize;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Field {
    Name,
    Category,
    Tags,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MapFile {
    source: String,
    rules: Vec<RuleFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleFile {
    class: String,
    #[serde(default)]
    categories: Vec<String>,
    #[serde(default)]
    include: Vec<String>,
    #[serde(default)]
    exclude: Vec<String>,
    #[serde(default)]
    fields: Option<Vec<Field>>,
}

/// One keyword, tokenized; `prefix` when its last word ended in `*`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Keyword {
    words: Vec<String>,
    prefix: bool,
}

#[derive(Debug, Clone)]
pub struct ClassRule {
    pub class: String,
    categories: Vec<String>,
    include: Vec<Keyword>,
    exclude: Vec<Keyword>,
    fields: Vec<Field>,
}

#[derive(Debug, Clone)]
pub struct ClassMap {
    source: String,
    rules: Vec<ClassRule>,
}

impl ClassMap {
    /// Reads and validates a class map file.
    pub fn load(path: &Path) -> Result<ClassMap, AssetError> {
        let text = std::fs::read_to_string(path).map_err(|e| AssetError::ClassMap {
            path: path.to_path_buf(),
            field: "(file)".into(),
            message: format!("the file cannot be read ({e})"),
            fix: "check the path, e.g. shapenet_index/sweethome3d.yaml".into(),
        })?;
        Self::parse(&text, path)
    }

    /// The default map for the Sweet Home 3D catalog (`shapenet_index/sweethome3d.yaml`).
    pub fn load_default_sweethome3d() -> Result<ClassMap, AssetError> {
        Self::load(&crate::paths::index_dir().join("sweethome3d.yaml"))
    }

    /// Parses YAML text; `path` is only used in error messages.
    pub fn parse(text: &str, path: &Path) -> Result<ClassMap, AssetError> {
        let err = |field: String, message: String, fix: &str| AssetError::ClassMap {
            path: path.to_path_buf(),
            field,
            message,
            fix: fix.to_string(),
        };
        let de = serde_yaml::Deserializer::from_str(text);
        let file: MapFile = serde_path_to_error::deserialize(de).map_err(|e| {
            let field = e.path().to_string();
            err(
                if field == "." {
                    "(top level)".into()
                } else {
                    field
                },
                e.into_inner().to_string(),
                "each rule takes `class`, and `include`, `exclude`, `categories` (lists of \
                 strings) and `fields` (a list of name, category, tags); the file needs \
                 `source` and `rules`",
            )
        })?;
        if file.source.trim().is_empty() {
            return Err(err(
                "source".into(),
                "is empty".into(),
                "name the catalog the rules apply to, e.g. `source: sweethome3d`",
            ));
        }
        let mut rules = Vec::with_capacity(file.rules.len());
        for (i, rule) in file.rules.into_iter().enumerate() {
            let at = |f: &str| format!("rules[{i}].{f}");
            let class_ok = !rule.class.is_empty()
                && rule
                    .class
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
            if !class_ok {
                return Err(err(
                    at("class"),
                    format!("{:?} is not a valid class name", rule.class),
                    "use lowercase letters, digits and `_` (it becomes a folder name)",
                ));
            }
            if rule.include.is_empty() && rule.categories.is_empty() {
                return Err(err(
                    at("include"),
                    format!("the rule for `{}` matches nothing", rule.class),
                    "give `include` keywords, `categories`, or both",
                ));
            }
            let fields = rule.fields.unwrap_or_else(|| vec![Field::Name]);
            if fields.is_empty() {
                return Err(err(
                    at("fields"),
                    "is an empty list".into(),
                    "leave `fields` out (it defaults to [name]) or list name, category, tags",
                ));
            }
            let compile = |list: Vec<String>, name: &str| -> Result<Vec<Keyword>, AssetError> {
                list.iter()
                    .enumerate()
                    .map(|(k, text)| {
                        parse_keyword(text).ok_or_else(|| {
                            err(
                                format!("rules[{i}].{name}[{k}]"),
                                format!("{text:?} has no letters or digits"),
                                "write a word or a few words, optionally ending in `*`",
                            )
                        })
                    })
                    .collect()
            };
            rules.push(ClassRule {
                include: compile(rule.include, "include")?,
                exclude: compile(rule.exclude, "exclude")?,
                class: rule.class,
                categories: rule.categories,
                fields,
            });
        }
        Ok(ClassMap {
            source: file.source,
            rules,
        })
    }

    /// The catalog source these rules are written for.
    pub fn source(&self) -> &str {
        &self.source
    }

    pub fn applies_to(&self, source: &str) -> bool {
        self.source == source
    }

    pub fn rules(&self) -> &[ClassRule] {
        &self.rules
    }

    /// The classes the map can produce, in order of first appearance.
    pub fn classes(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for rule in &self.rules {
            if !out.contains(&rule.class.as_str()) {
                out.push(&rule.class);
            }
        }
        out
    }

    /// The class of the first rule that matches, if any.
    pub fn classify(&self, entry: &ModelEntry) -> Option<&str> {
        self.rules
            .iter()
            .find(|rule| rule.matches(entry))
            .map(|rule| rule.class.as_str())
    }
}

impl ClassRule {
    pub fn matches(&self, entry: &ModelEntry) -> bool {
        let in_category = self.categories.is_empty()
            || self
                .categories
                .iter()
                .any(|c| c.trim().eq_ignore_ascii_case(entry.category.trim()));
        if !in_category {
            return false;
        }
        let texts: Vec<Vec<String>> = self
            .fields
            .iter()
            .flat_map(|field| match field {
                Field::Name => vec![tokenize(&entry.name)],
                Field::Category => vec![tokenize(&entry.category)],
                Field::Tags => entry.tags.iter().map(|t| tokenize(t)).collect(),
            })
            .collect();
        let hit = |kw: &Keyword| texts.iter().any(|words| kw.matches(words));
        let included = self.include.is_empty() || self.include.iter().any(hit);
        included && !self.exclude.iter().any(hit)
    }
}

impl Keyword {
    fn matches(&self, words: &[String]) -> bool {
        let n = self.words.len();
        words.len() >= n
            && words.windows(n).any(|window| {
                window
                    .iter()
                    .zip(&self.words)
                    .enumerate()
                    .all(|(i, (w, k))| {
                        if self.prefix && i == n - 1 {
                            w.starts_with(k.as_str())
                        } else {
                            w == k
                        }
                    })
            })
    }
}

fn parse_keyword(text: &str) -> Option<Keyword> {
    let trimmed = text.trim();
    let (body, prefix) = match trimmed.strip_suffix('*') {
        Some(body) => (body, true),
        None => (trimmed, false),
    };
    let words = tokenize(body);
    (!words.is_empty()).then_some(Keyword { words, prefix })
}

/// Lowercase words: runs of letters and digits.
fn tokenize(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// Where a class map for `source` is looked up by default.
pub fn default_map_path(source: &str) -> PathBuf {
    crate::paths::index_dir().join(format!("{source}.yaml"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::assets::entry::ModelLocation;

    fn entry(name: &str, category: &str, tags: &[&str]) -> ModelEntry {
        ModelEntry {
            key: format!("sweethome3d:{name}"),
            source: "sweethome3d".into(),
            name: name.into(),
            category: category.into(),
            tags: tags.iter().map(|t| t.to_string()).collect(),
            creator: String::new(),
            license: String::new(),
            size_cm: [1.0; 3],
            location: ModelLocation::File {
                path: PathBuf::from("x.obj"),
            },
            format: "obj".into(),
            up_axis: "Y".into(),
            model_rotation: None,
            class: None,
        }
    }

    const MAP: &str = r#"
source: sweethome3d
rules:
  - class: lamp
    categories: [Lights]
    exclude: [candle]
  - class: lamp
    include: [lamp*]
  - class: mug
    include: [mug, coffee cup]
  - class: motorcycle
    include: [motorcycle, motorbike]
    fields: [name, tags]
    categories: [vehicles]
  - class: chair
    include: [chair, armchair]
    exclude: [wheelchair, high]
  - class: table
    include: [table, desk]
    exclude: [tennis]
"#;

    fn map() -> ClassMap {
        ClassMap::parse(MAP, Path::new("test.yaml")).unwrap()
    }

    #[test]
    fn first_matching_rule_wins() {
        let m = map();
        // "table lamp" must be a lamp, not a table: the lamp rule comes first.
        assert_eq!(
            m.classify(&entry("Table lamp", "Living room", &[])),
            Some("lamp")
        );
        assert_eq!(m.classify(&entry("Desk", "Office", &[])), Some("table"));
        assert_eq!(m.classes(), ["lamp", "mug", "motorcycle", "chair", "table"]);
    }

    #[test]
    fn whole_words_case_insensitive_and_prefixes() {
        let m = map();
        assert_eq!(m.classify(&entry("ARMCHAIR", "Office", &[])), Some("chair"));
        assert_eq!(m.classify(&entry("Wheelchair", "Misc", &[])), None);
        assert_eq!(
            m.classify(&entry("Street lamppost", "Exterior", &[])),
            Some("lamp")
        );
        assert_eq!(
            m.classify(&entry("Coffee cup", "Kitchen", &[])),
            Some("mug")
        );
        // A phrase needs its words in sequence.
        assert_eq!(m.classify(&entry("Cup of coffee", "Kitchen", &[])), None);
    }

    #[test]
    fn categories_restrict_and_excludes_veto() {
        let m = map();
        assert_eq!(
            m.classify(&entry("Ceiling light", "Lights", &[])),
            Some("lamp")
        );
        assert_eq!(m.classify(&entry("Candle", "Lights", &[])), None);
        assert_eq!(m.classify(&entry("Baby high chair", "Kitchen", &[])), None);
        assert_eq!(m.classify(&entry("Table tennis", "Misc", &[])), None);
        let yamaha = entry("Yamaha YZR R6", "Vehicles", &["Motorbike", "Motorcycle"]);
        assert_eq!(m.classify(&yamaha), Some("motorcycle"));
        let helmet = entry("Helmet", "Bedroom", &["Motorcycle"]);
        assert_eq!(m.classify(&helmet), None);
    }

    #[test]
    fn tags_match_one_tag_at_a_time() {
        let yaml =
            "source: s\nrules:\n  - class: x\n    include: [coffee cup]\n    fields: [tags]\n";
        let m = ClassMap::parse(yaml, Path::new("m.yaml")).unwrap();
        assert_eq!(m.classify(&entry("A", "B", &["Coffee cup"])), Some("x"));
        assert_eq!(m.classify(&entry("A", "B", &["Coffee", "Cup"])), None);
    }

    #[test]
    fn apply_class_map_sets_classes_and_lists_them() {
        let mut catalog = crate::assets::Catalog::new();
        catalog
            .add_scan(crate::assets::SourceScan {
                entries: vec![entry("Chair", "Office", &[]), entry("Lamp", "Lights", &[])],
                ..Default::default()
            })
            .unwrap();
        catalog.apply_class_map(&map());
        let chairs: Vec<&str> = catalog
            .models_for_class("chair")
            .iter()
            .map(|e| e.name.as_str())
            .collect();
        assert_eq!(chairs, ["Chair"]);
        assert_eq!(catalog.class_counts().get("lamp"), Some(&1));
    }

    fn parse_err(yaml: &str) -> String {
        ClassMap::parse(yaml, Path::new("maps/bad.yaml"))
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn errors_name_file_field_and_fix() {
        let e = parse_err("source: s\nrules:\n  - class: chair\n    inclde: [chair]\n");
        assert!(
            e.contains("maps/bad.yaml") && e.contains("rules[0]") && e.contains("inclde"),
            "{e}"
        );
        let e = parse_err("source: s\nrules:\n  - class: Chair\n    include: [chair]\n");
        assert!(
            e.contains("rules[0].class") && e.contains("lowercase"),
            "{e}"
        );
        let e = parse_err("source: s\nrules:\n  - class: chair\n");
        assert!(
            e.contains("rules[0].include") && e.contains("matches nothing"),
            "{e}"
        );
        let e = parse_err("source: s\nrules:\n  - class: chair\n    include: [ok, '--']\n");
        assert!(e.contains("rules[0].include[1]"), "{e}");
        let e =
            parse_err("source: s\nrules:\n  - class: c\n    include: [a]\n    fields: [colour]\n");
        assert!(e.contains("rules[0].fields"), "{e}");
        let e = parse_err("rules: []\n");
        assert!(e.contains("source"), "{e}");
        let missing = ClassMap::load(Path::new("/nonexistent/map.yaml")).unwrap_err();
        assert!(
            missing.to_string().contains("/nonexistent/map.yaml"),
            "{missing}"
        );
    }
}
