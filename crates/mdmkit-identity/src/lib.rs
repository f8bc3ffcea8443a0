//! mdmkit-identity (work in progress).
//!
//! ```
//! assert_eq!(2 + 2, 4);
//! ```
#![forbid(unsafe_code)]
