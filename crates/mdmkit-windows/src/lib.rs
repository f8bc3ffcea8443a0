//! Windows device management for mdmkit: the OMA-DM SyncML 1.2 codec,
//! server-side sessions, typed status codes and the MS-MDE2 enrollment
//! messages.
//!
//! Windows speaks OMA-DM: SyncML 1.2 XML messages in sessions that the
//! device opens, settings addressed by CSP URIs (`./Device/Vendor/MSFT/...`),
//! and an enrollment made of SOAP exchanges that ends with a provisioning
//! document. Everything a device sends is untrusted: readers have size,
//! depth and count limits, refuse DTDs and entity definitions, and report
//! typed errors with byte offsets.
//!
//! - [`syncml`]: the message model, [`SyncMl::read`] and [`SyncMl::to_xml`].
//! - [`status`]: status and alert codes with their meanings.
//! - [`locuri`]: `LocURI` checks and normalisation (reserved-URI checks that
//!   cannot be bypassed by spelling).
//! - [`session`]: the server side of a management session: statuses for
//!   the device's commands, queued commands up to a byte budget,
//!   continuation, statuses and results matched back to queued commands.
//! - [`enroll`]: discovery, XCEP policies, WS-Trust enrollment, the
//!   provisioning document and SOAP faults.
//! - [`device`]: a small simulated Windows device for tests of a server.
//! - [`csp`]: the CSP mapping from mdmkit-policy settings to OMA-DM
//!   commands, and policy diffs as minimal Add / Replace / Delete.
//! - [`artefact`]: which Windows artefact some bytes are (for inspectors).
//!
//! ```
//! use mdmkit_windows::session::{QueuedCommand, ServerSession, SessionConfig};
//! use mdmkit_windows::syncml::{Command, Item, ItemCommand};
//! use mdmkit_windows::device::TestDevice;
//!
//! let mut device = TestDevice::new("device-1");
//! let mut server = ServerSession::new(SessionConfig::new("https://mdm.example/omadm"));
//! let queued = vec![QueuedCommand::new(
//!     "q-1",
//!     Command::Get(ItemCommand::new("0", Item::target("./DevInfo/Man"))),
//! )];
//!
//! let hello = device.open_session("https://mdm.example/omadm");
//! let reply = server.respond(&hello, &queued)?;
//! let answer = device.handle(&reply.message).expect("the device answers");
//! let next = server.respond(&answer, &[])?;
//! assert_eq!(next.results[0].queue_ref.as_str(), "q-1");
//! assert!(next.session_complete);
//! # Ok::<(), mdmkit_windows::Error>(())
//! ```
//!
//! ## Feature flags
//!
//! None: the crate has no optional parts.
#![forbid(unsafe_code)]

pub mod artefact;
pub mod csp;
pub mod device;
pub mod enroll;
mod error;
pub mod locuri;
pub mod session;
pub mod status;
pub mod syncml;
pub mod wns;
mod xml;

pub use error::{
    DataError, EnrollmentError, Error, LargeObjectError, LocUriError, ReadError, ReadErrorKind,
    SessionError, XmlSyntaxError,
};
pub use locuri::LocUri;
pub use status::{AlertCode, StatusCode};
pub use syncml::SyncMl;
