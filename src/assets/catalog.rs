//! A catalog holds models of any source; callers never need to know which one.
use super::class_map::ClassMap;
use super::entry::{ModelEntry, SkippedModel};
use super::error::AssetError;
use std::collections::{BTreeMap, HashMap};

/// A provider of models (Sweet Home 3D archives today, a ShapeNet tree later).
pub trait ModelSource {
    /// The `source` written into its entries, e.g. "sweethome3d".
    fn name(&self) -> &str;
    /// Lists the models; skipped ones come with a reason.
    fn scan(&self) -> Result<SourceScan, AssetError>;
}

/// What one source contributed.
#[derive(Debug, Clone, Default)]
pub struct SourceScan {
    pub entries: Vec<ModelEntry>,
    pub skipped: Vec<SkippedModel>,
    /// True when the listing came from a cached index rather than a fresh parse.
    pub from_cache: bool,
}

#[derive(Debug, Clone, Default)]
pub struct Catalog {
    entries: Vec<ModelEntry>,
    skipped: Vec<SkippedModel>,
    by_key: HashMap<String, usize>,
}

impl Catalog {
    pub fn new() -> Self {
        Self::default()
    }

    /// The embedded default: the Sweet Home 3D archives at their default paths.
    pub fn load_default() -> Result<Catalog, AssetError> {
        let mut catalog = Catalog::new();
        catalog.add_source(&super::sweethome3d::SweetHome3dSource::from_default_paths())?;
        Ok(catalog)
    }

    /// The default catalog with classes from `shapenet_index/sweethome3d.yaml`.
    pub fn load_default_classified() -> Result<Catalog, AssetError> {
        let mut catalog = Self::load_default()?;
        catalog.apply_class_map(&ClassMap::load_default_sweethome3d()?);
        Ok(catalog)
    }

    /// Scans a source and adds its models; returns whether its index came from a cache.
    pub fn add_source(&mut self, source: &dyn ModelSource) -> Result<bool, AssetError> {
        let scan = source.scan()?;
        let from_cache = scan.from_cache;
        self.add_scan(scan)?;
        Ok(from_cache)
    }

    /// Adds already scanned models; keys must not repeat across sources.
    pub fn add_scan(&mut self, scan: SourceScan) -> Result<(), AssetError> {
        for entry in scan.entries {
            if let Some(&existing) = self.by_key.get(&entry.key) {
                return Err(AssetError::DuplicateKey {
                    key: entry.key,
                    first: self.entries[existing].source.clone(),
                    second: entry.source,
                });
            }
            self.by_key.insert(entry.key.clone(), self.entries.len());
            self.entries.push(entry);
        }
        self.skipped.extend(scan.skipped);
        Ok(())
    }

    pub fn entries(&self) -> &[ModelEntry] {
        &self.entries
    }

    pub fn skipped(&self) -> &[SkippedModel] {
        &self.skipped
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn get(&self, key: &str) -> Option<&ModelEntry> {
        self.by_key.get(key).map(|&i| &self.entries[i])
    }

    /// Sets every entry's class from the map (entries of other sources than the map's are
    /// left alone; `None` where no rule matches).
    pub fn apply_class_map(&mut self, map: &ClassMap) {
        for entry in &mut self.entries {
            if map.applies_to(&entry.source) {
                entry.class = map.classify(entry).map(str::to_owned);
            }
        }
    }

    /// The models of one class, in catalog order.
    pub fn models_for_class(&self, class: &str) -> Vec<&ModelEntry> {
        self.entries
            .iter()
            .filter(|e| e.class.as_deref() == Some(class))
            .collect()
    }

    /// Model count per class (unclassified models are not counted).
    pub fn class_counts(&self) -> BTreeMap<String, usize> {
        let mut counts = BTreeMap::new();
        for class in self.entries.iter().filter_map(|e| e.class.as_ref()) {
            *counts.entry(class.clone()).or_insert(0) += 1;
        }
        counts
    }
}
