//! How images are named and how a run is split over machines: the image id and the shard that
//! owns it. The dataset layout, the merge and the render plan all use these.

/// Image id: `<class>_<index>`, zero-padded so names sort in index order.
pub fn image_id(class: &str, index: u64) -> String {
    format!("{class}_{index:06}")
}

/// One part of a run split over machines: shard `index` (1-based) of `count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

impl Shard {
    /// Parses `I/N` with 1 <= I <= N.
    pub fn parse(text: &str) -> Result<Shard, String> {
        let bad = || {
            format!("--shard {text:?}: expected I/N with 1 <= I <= N, e.g. --shard 2/8 (the second of eight shards)")
        };
        let (i, n) = text.split_once('/').ok_or_else(bad)?;
        let index: u32 = i.trim().parse().map_err(|_| bad())?;
        let count: u32 = n.trim().parse().map_err(|_| bad())?;
        if count == 0 || index == 0 || index > count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }

    /// Whether the shard renders image `index` of class `class` (label order). Images are
    /// dealt round-robin, offset per class, so every shard gets a near-equal share of every
    /// class, the shards are disjoint, and together they cover the whole job list.
    pub fn owns(&self, class: usize, index: u64) -> bool {
        (index + class as u64) % u64::from(self.count) == u64::from(self.index - 1)
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_are_disjoint_and_cover_every_job() {
        for count in 1..=5u32 {
            for class in 0..3usize {
                for index in 0..50u64 {
                    let owners = (1..=count)
                        .filter(|&i| Shard { index: i, count }.owns(class, index))
                        .count();
                    assert_eq!(owners, 1, "class {class} index {index} of {count} shards");
                }
            }
        }
    }

    #[test]
    fn shard_text_parses_or_says_the_form() {
        assert_eq!(Shard::parse("2/3"), Ok(Shard { index: 2, count: 3 }));
        for bad in ["0/3", "4/3", "1/0", "x/2", "3"] {
            assert!(Shard::parse(bad).unwrap_err().contains("I/N"), "{bad}");
        }
    }

    #[test]
    fn image_ids_sort_in_index_order() {
        assert_eq!(image_id("car", 7), "car_000007");
        assert!(image_id("car", 99) < image_id("car", 100));
    }
}
