//! Fuzz target bodies for mdmkit-windows.

use mdmkit_windows::SyncMl;
use mdmkit_windows::enroll::{self, ProvisioningDoc};

use crate::Target;

/// The targets of this crate.
pub const TARGETS: &[Target] = &[
    Target {
        name: "windows_syncml",
        body: syncml,
    },
    Target {
        name: "windows_enrollment",
        body: enrollment,
    },
];

/// A SyncML message from a device: rejected with an error, or read, and
/// then written and read back to the same message; then answered by a
/// server session (three messages, its snapshot kept as JSON in between).
pub fn syncml(data: &[u8]) {
    let _ = mdmkit_windows::artefact::detect(data);
    if let Ok(m) = SyncMl::read(data) {
        let xml = m.to_xml();
        match SyncMl::read(xml.as_bytes()) {
            Ok(back) => assert_eq!(back, m, "re-read differs for {xml}"),
            Err(e) => panic!("written message does not read back: {e}\n{xml}"),
        }
        session(&m);
    }
}

/// The most bytes of a large object the fuzzed session keeps.
const MAX_OBJECT: usize = 4096;

/// `m` as the device's answers, three times (`MsgID` 2, 3, 4), in a session
/// whose first reply sent two `Get`s (`CmdID` 3 of `./A` and 4 of `./B`,
/// in message 1), the session stored as JSON and restored between two
/// messages: chunked `Results` (`MoreData`) are reassembled across them.
///
/// Laws: no panic; the snapshot reads back from JSON as itself; every reply
/// reads back; the large object kept never passes the cap; each chunk is
/// answered (213 while kept) and a refused one is reported.
fn session(m: &SyncMl) {
    use mdmkit_windows::AlertCode;
    use mdmkit_windows::session::{QueuedCommand, ServerSession, SessionConfig, SessionSnapshot};
    use mdmkit_windows::syncml::{Alert, Command, Item, ItemCommand, SyncHdr};

    const SERVER: &str = "https://mdm.example/omadm";
    let config = SessionConfig::new(SERVER).with_max_object_size(MAX_OBJECT);
    let queued = [
        QueuedCommand::new(
            "q-a",
            Command::Get(ItemCommand::new("0", Item::target("./A"))),
        ),
        QueuedCommand::new(
            "q-b",
            Command::Get(ItemCommand::new("0", Item::target("./B"))),
        ),
    ];
    let hello = SyncMl {
        header: SyncHdr::new("1", "1", SERVER, "device"),
        commands: vec![Command::Alert(Alert::new("1", AlertCode::CLIENT_INITIATED))],
        final_: true,
    };
    let mut s = ServerSession::new(config.clone());
    if s.respond(&hello, &queued).is_err() {
        panic!("the session does not open");
    }
    for n in 2u64..5 {
        let mut msg = m.clone();
        msg.header.ver_dtd = "1.2".into();
        msg.header.ver_proto = "DM/1.2".into();
        msg.header.session_id = "1".into();
        msg.header.msg_id = n.into();
        let Ok(reply) = s.respond(&msg, &queued) else {
            return;
        };
        let xml = reply.message.to_xml();
        if let Err(e) = SyncMl::read(xml.as_bytes()) {
            panic!("the reply does not read back: {e}\n{xml}");
        }
        let snapshot = s.snapshot();
        let json = match serde_json::to_string(&snapshot) {
            Ok(j) => j,
            Err(e) => panic!("the snapshot does not serialise: {e}"),
        };
        match serde_json::from_str::<SessionSnapshot>(&json) {
            Ok(back) => assert_eq!(back, snapshot, "the snapshot changed through JSON"),
            Err(e) => panic!("the snapshot does not read back: {e}\n{json}"),
        }
        if let Some(o) = &snapshot.incoming {
            assert!(o.value.len() <= MAX_OBJECT, "{} bytes kept", o.value.len());
        }
        s = ServerSession::restore(config.clone(), &snapshot);
    }
}

/// An enrollment SOAP message (or a provisioning document, or a renewal's
/// PKCS#7 token): rejected with an error, or read; a provisioning document that reads is written
/// and read back to the same document.
pub fn enrollment(data: &[u8]) {
    let _ = enroll::is_soap_envelope(data);
    let _ = enroll::read_message(data);
    if let Ok(rst) = enroll::RequestSecurityToken::read(data) {
        let _ = rst.certificate_request();
    }
    // The same bytes as a renewal's PKCS#7 token (CMS SignedData).
    let mut renewal = enroll::RequestSecurityToken::new(data.to_vec());
    renewal.value_type = enroll::VALUE_TYPE_PKCS7.into();
    let _ = renewal.certificate_request();
    if let Ok(doc) = ProvisioningDoc::read(data) {
        let xml = doc.to_xml();
        match ProvisioningDoc::read(xml.as_bytes()) {
            Ok(back) => assert_eq!(back, doc),
            Err(e) => panic!("written document does not read back: {e}\n{xml}"),
        }
    }
}
