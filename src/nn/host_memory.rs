//! Host memory policy of CPU runs. libtorch takes every activation and gradient buffer from
//! malloc and frees it within the step. glibc serves blocks above 32 MiB (one ResNet-50
//! activation at 224 px and batch 32 is 98 MiB) with a fresh mmap and unmaps them on free, so
//! every step page-faults and zeroes gigabytes in the kernel again (docs/BENCHMARKS.md: over a
//! third of the CPU time of a ResNet-50 run at 224 px). Serving every block from the heap
//! and never trimming it lets the next step reuse the pages, as PyTorch's GPU caching allocator
//! does: resident memory stays at the step's peak, plus fragmentation, until the process exits.

/// Makes freed memory stay with the process for reuse (glibc: no mmap-served blocks, no heap
/// trimming). Returns whether the allocator took the setting; elsewhere it does nothing.
pub fn keep_freed_memory() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: mallopt only changes glibc's allocation parameters, under its own lock;
        // -1 for M_TRIM_THRESHOLD disables trimming (mallopt(3)).
        unsafe {
            libc::mallopt(libc::M_MMAP_MAX, 0) == 1
                && libc::mallopt(libc::M_TRIM_THRESHOLD, -1) == 1
        }
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        false
    }
}

#[cfg(all(test, target_os = "linux", target_env = "gnu"))]
mod tests {
    use super::*;

    /// Bytes glibc currently serves with mmap.
    fn mmapped_bytes() -> usize {
        // SAFETY: mallinfo2 only reads allocator statistics.
        unsafe { libc::mallinfo2() }.hblkhd
    }

    #[test]
    fn large_blocks_come_from_the_heap() {
        assert!(keep_freed_memory());
        let size = 40 << 20;
        let before = mmapped_bytes();
        let block = vec![1u8; size];
        let during = mmapped_bytes();
        assert_eq!(block[size - 1], 1);
        // Without the setting this block alone would add `size` mmapped bytes (glibc's mmap
        // threshold is at most 32 MiB); other tests only free mmapped blocks meanwhile.
        assert!(during < before + size, "{before} -> {during}");
    }
}
