//! Fuzz target bodies for mdmkit-queue.

use crate::Target;

/// The targets of this crate.
pub const TARGETS: &[Target] = &[Target {
    name: "queue_ids",
    body: ids,
}];

/// What a console or a device hands the queue as text (command ids,
/// enrollment ids, report statuses, store locations) is either rejected or
/// round-trips through its display form.
pub fn ids(data: &[u8]) {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(c) = s.parse::<mdmkit_queue::CommandId>() {
        assert_eq!(
            c.to_string().parse::<mdmkit_queue::CommandId>().ok(),
            Some(c)
        );
    }
    if let Ok(e) = s.parse::<mdmkit_queue::EnrollmentId>() {
        assert_eq!(e.to_string(), s);
        assert_eq!(
            e.to_string().parse::<mdmkit_queue::EnrollmentId>().ok(),
            Some(e)
        );
    }
    if let Ok(st) = s.parse::<mdmkit_queue::ReportStatus>() {
        assert_eq!(st.as_str(), s);
    }
    let _ = mdmkit_queue::StoreLocation::parse(s);
}
