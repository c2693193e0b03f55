//! A small bounded LRU of decoded images keyed by path, shared by the render threads.
//!
//! Backdrop folders and HDRIs are reused thousands of times, and decoding a JPEG or EXR costs
//! far more than compositing. Capacity is small (tens of entries), so a linear scan is cheaper
//! than a hash map plus a linked list. Decoding happens outside the lock: two threads may
//! decode the same file at once, which wastes a little work but never blocks the others.
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

pub struct LruCache<V> {
    capacity: usize,
    inner: Mutex<Inner<V>>,
}

struct Inner<V> {
    tick: u64,
    entries: Vec<(PathBuf, Arc<V>, u64)>,
}

impl<V> LruCache<V> {
    pub const fn new(capacity: usize) -> Self {
        LruCache {
            capacity,
            inner: Mutex::new(Inner {
                tick: 0,
                entries: Vec::new(),
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner<V>> {
        // A panic elsewhere cannot leave the entries half-updated: recover the guard.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn get(&self, key: &Path) -> Option<Arc<V>> {
        let mut inner = self.lock();
        inner.tick += 1;
        let tick = inner.tick;
        let entry = inner.entries.iter_mut().find(|(k, _, _)| k == key)?;
        entry.2 = tick;
        Some(Arc::clone(&entry.1))
    }

    pub fn insert(&self, key: &Path, value: Arc<V>) {
        let mut inner = self.lock();
        inner.tick += 1;
        let tick = inner.tick;
        if let Some(entry) = inner.entries.iter_mut().find(|(k, _, _)| k == key) {
            entry.1 = value;
            entry.2 = tick;
            return;
        }
        if inner.entries.len() >= self.capacity {
            if let Some(oldest) = (0..inner.entries.len()).min_by_key(|&i| inner.entries[i].2) {
                inner.entries.swap_remove(oldest);
            }
        }
        if self.capacity > 0 {
            inner.entries.push((key.to_path_buf(), value, tick));
        }
    }

    /// The cached value, or `load(key)` inserted and returned.
    pub fn get_or_load<E>(
        &self,
        key: &Path,
        load: impl FnOnce(&Path) -> Result<V, E>,
    ) -> Result<Arc<V>, E> {
        if let Some(v) = self.get(key) {
            return Ok(v);
        }
        let value = Arc::new(load(key)?);
        self.insert(key, Arc::clone(&value));
        Ok(value)
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.lock().entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evicts_the_least_recently_used_entry() {
        let cache = LruCache::new(2);
        cache.insert(Path::new("a"), Arc::new(1));
        cache.insert(Path::new("b"), Arc::new(2));
        assert_eq!(cache.get(Path::new("a")).as_deref(), Some(&1)); // a is now fresher than b
        cache.insert(Path::new("c"), Arc::new(3));
        assert_eq!(cache.len(), 2);
        assert!(cache.get(Path::new("b")).is_none());
        assert_eq!(cache.get(Path::new("a")).as_deref(), Some(&1));
        assert_eq!(cache.get(Path::new("c")).as_deref(), Some(&3));
    }

    #[test]
    fn get_or_load_loads_once_and_passes_errors_through() {
        let cache: LruCache<u32> = LruCache::new(4);
        let mut calls = 0;
        for _ in 0..3 {
            let v = cache
                .get_or_load(Path::new("x"), |_| {
                    calls += 1;
                    Ok::<_, String>(7)
                })
                .unwrap();
            assert_eq!(*v, 7);
        }
        assert_eq!(calls, 1);
        let err = cache.get_or_load(Path::new("y"), |_| Err::<u32, _>("broken".to_string()));
        assert_eq!(err.err().as_deref(), Some("broken"));
        assert!(cache.get(Path::new("y")).is_none());
    }
}
