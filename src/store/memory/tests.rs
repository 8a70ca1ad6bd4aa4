//! Runs the shared store conformance suite against [`MemoryStore`](super::MemoryStore).

use crate::store::conformance::store_conformance_suite;

store_conformance_suite!(super::MemoryStore::new());
