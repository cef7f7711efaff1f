#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub use mimalloc::MiMalloc;

/// Declares mimalloc as the program's global allocator. Use once, at the root of a binary.
#[macro_export]
macro_rules! global_allocator {
    () => {
        #[global_allocator]
        static NAVAB_GLOBAL_ALLOCATOR: $crate::MiMalloc = $crate::MiMalloc;
    };
}

/// `mi_option_purge_delay` in mimalloc's `mi_option_e` (the same index in its v2 and v3 headers;
/// the `-sys` crate names only a few options).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Tells mimalloc never to return freed memory to the operating system (its option
/// `purge_delay = -1`, also settable as `MIMALLOC_PURGE_DELAY=-1` in the environment).
///
/// Call it first thing in `main`, before other threads start. It has no effect on other
/// allocators, so it is harmless when [`global_allocator!`] is not used.
pub fn keep_freed_memory() {
    #[allow(unsafe_code)]
    // SAFETY: `mi_option_set` stores an integer in mimalloc's option table; it takes no
    // pointers. mimalloc documents it as not thread-safe, hence "before other threads start".
    unsafe {
        libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1);
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_option_is_purge_delay() {
        #[allow(unsafe_code)]
        // SAFETY: reads an integer from mimalloc's option table.
        let get = || unsafe { libmimalloc_sys::mi_option_get(super::MI_OPTION_PURGE_DELAY) };
        // purge_delay defaults to 1000 (ms) in mimalloc v3, the version the crate builds: a
        // wrong index would read another option's default.
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
            assert_eq!(get(), 1000);
        }
        super::keep_freed_memory();
        assert_eq!(get(), -1);
    }
}
