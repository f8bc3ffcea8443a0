//! OMA-DM SyncML 1.2: the message model, a streaming reader for untrusted
//! input and a writer.
//!
//! ```
//! use mdmkit_windows::syncml::{Command, Item, ItemCommand, Meta, Format, SyncHdr, SyncMl};
//!
//! let msg = SyncMl {
//!     header: SyncHdr::new("0", "1", "device-1", "https://mdm.example/omadm"),
//!     commands: vec![Command::Replace(ItemCommand::new(
//!         "2",
//!         Item::target("./Device/Vendor/MSFT/Policy/Config/Camera/AllowCamera")
//!             .with_meta(Meta::format(Format::Int))
//!             .with_data("0"),
//!     ))],
//!     final_: true,
//! };
//! let xml = msg.to_xml();
//! assert_eq!(SyncMl::read(xml.as_bytes())?, msg);
//! # Ok::<(), mdmkit_windows::ReadError>(())
//! ```

mod model;
mod read;
mod write;

pub use model::{
    Alert, CmdId, Command, Container, Cred, Data, DataForm, Format, Item, ItemCommand, Location,
    Meta, MsgId, Results, SessionId, Status, SyncHdr, SyncMl,
};
pub use read::Limits;
pub use write::{METINF_NS, SYNCML_NS};

/// The HTTP content type of SyncML over HTTP.
pub const CONTENT_TYPE: &str = "application/vnd.syncml.dm+xml";

#[cfg(test)]
mod tests {
    use super::*;

    /// Messages hold thousands of commands: rare parts (`Meta`, `Cred`) are
    /// boxed so that a command stays small to build, move and drop.
    #[test]
    fn commands_and_items_stay_small() {
        let (c, i) = (std::mem::size_of::<Command>(), std::mem::size_of::<Item>());
        assert!(c <= 256, "Command is {c} bytes");
        assert!(i <= 192, "Item is {i} bytes");
    }

    /// Every element is labelled by its own name; a Status names the
    /// command it answers in a field that is not the label.
    #[test]
    fn a_status_is_labelled_a_status_and_names_what_it_answers() -> Result<(), serde_json::Error> {
        let status = Command::Status(Status::new(
            "2",
            MsgId::from("1"),
            Some(CmdId::from("1")),
            "Alert",
            crate::status::StatusCode::OK,
        ));
        let alert = Command::Alert(Alert::new("1", crate::status::AlertCode::CLIENT_EVENT));
        let status = serde_json::to_value(&status)?;
        assert_eq!(status["element"], "Status");
        assert_eq!(status["answers"], "Alert");
        assert_eq!(status["cmd_ref"], "1");
        assert_eq!(status["msg_ref"], "1");
        assert_eq!(status["code"], 200);
        assert!(status.get("cmd").is_none(), "{status}");
        assert_eq!(serde_json::to_value(&alert)?["element"], "Alert");
        Ok(())
    }
}
