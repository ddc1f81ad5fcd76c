//! Independent pieces of one computation on a few threads, as if on one.
//!
//! A fleet's run reads and checks thousands of small files, each costing
//! its own system calls; two cores do that in little more than half the
//! time. The pieces must not depend on each other. Results come back in the
//! input's order, so the first error is the one a single thread meets
//! first, and what every thread read is noted in the caller's read record
//! ([`super::reads`]), so `plan --out` still names every file. A small job
//! stays on the caller's thread.

use std::num::NonZero;

/// Below this many items per thread, starting threads costs more than it saves.
const MIN_PER_THREAD: usize = 32;
/// More threads than this only contend for the same directories.
const MAX_THREADS: usize = 4;

/// `items.iter().map(f).collect()`, with the items split among threads.
pub fn map_in_order<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let threads = threads_for(items.len());
    if threads < 2 {
        return items.iter().map(&f).collect();
    }
    let recording = super::reads::recording();
    let f = &f;
    let run = move |part: &[T]| -> Vec<R> { part.iter().map(f).collect() };
    let parts = std::thread::scope(|scope| {
        let workers: Vec<_> = items
            .chunks(items.len().div_ceil(threads))
            .map(|part| {
                scope.spawn(move || {
                    if recording {
                        super::reads::record(|| run(part))
                    } else {
                        (run(part), Vec::new())
                    }
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| {
                w.join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect::<Vec<_>>()
    });
    let mut out = Vec::with_capacity(items.len());
    for (part, reads) in parts {
        super::reads::note_all(&reads);
        out.extend(part);
    }
    out
}

fn threads_for(items: usize) -> usize {
    let cores = std::thread::available_parallelism().map_or(1, NonZero::get);
    cores.min(MAX_THREADS).min(items / MIN_PER_THREAD).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_and_reads_come_back_as_one_thread_gives_them() {
        let dir = tempfile::tempdir().unwrap();
        let paths: Vec<std::path::PathBuf> = (0..200)
            .map(|i| {
                let p = dir.path().join(format!("f{i:03}"));
                std::fs::write(&p, format!("{i}")).unwrap();
                p
            })
            .collect();
        let read = |p: &std::path::PathBuf| super::super::read_required(p, &"f").unwrap();
        let (many, reads) = super::super::reads::record(|| map_in_order(&paths, read));
        let one: Vec<Vec<u8>> = paths.iter().map(read).collect();
        assert_eq!(many, one);
        assert_eq!(reads.len(), 200, "every thread's reads are in the record");
        // Errors keep their order: the first failing item's error is first.
        let numbers: Vec<usize> = (0..500).collect();
        let checked = map_in_order(&numbers, |n| if n % 97 == 96 { Err(*n) } else { Ok(*n) });
        assert_eq!(checked.into_iter().collect::<Result<Vec<_>, _>>(), Err(96));
    }
}
