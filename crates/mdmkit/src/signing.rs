//! Signed policy layers (work in progress).
