//! The tamper-evident audit journal (work in progress).
