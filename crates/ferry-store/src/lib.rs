//! Workspace store (being written).
