//! Synthetic legacy clinic generator (being written).
