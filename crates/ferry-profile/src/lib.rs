//! Profiling of staged snapshots (being written). The data model is in [`model`].

pub mod model;
