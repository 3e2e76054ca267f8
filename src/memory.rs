//! How the process gives memory back: a clone of ten thousand tables holds
//! big lists for one phase (the catalog as read, a schema listing, a copy
//! plan) and then drops them, and glibc's allocator keeps what they freed
//! unless told otherwise, which is what the process's peak RSS measures.

/// Run once at start, before any other thread exists. glibc gives each
/// thread that allocates an arena of its own (up to eight per core): what
/// one thread frees is not reused by another, and a list built on one
/// thread (a blocking task reading the state database) and dropped later
/// leaves pages behind in an arena the main thread never reuses. Two
/// arenas: the runtime's thread and the blocking ones. Blocks of 1 MiB and
/// more get their own mapping, unmapped when freed, instead of the
/// threshold glibc raises after the first big free (up to 32 MiB), which
/// left a listing's or a plan's buffers resident for the rest of the run.
pub fn settle_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes the allocator's tunables; it is called
    // before the runtime starts any thread.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1024 * 1024);
    }
}

/// Hand the pages freed by a finished phase back to the system, so that the
/// next phase's allocations do not stack on top of them.
pub fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns free pages of the allocator's arenas.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// The process's peak resident memory so far (`VmHWM`), in kB; `None` where
/// `/proc` does not tell it.
pub fn peak_rss_kb() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_peak_is_read_on_linux() {
        if cfg!(target_os = "linux") {
            assert!(super::peak_rss_kb().is_some_and(|kb| kb > 0));
        }
    }
}
