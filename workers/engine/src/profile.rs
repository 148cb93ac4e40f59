//! Check profiles live in their own light crate (`photocheck-profile`); re-exported here so the
//! engine's modules and callers keep one path.

pub use photocheck_profile::*;
