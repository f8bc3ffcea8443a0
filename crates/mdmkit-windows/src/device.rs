//! A simulated Windows device for testing a server end to end: it enrolls
//! (discovery, policy, certificate request, provisioning document), opens
//! management sessions, applies commands to a small management tree with
//! the rules Windows documents, and answers with statuses and results.
//!
//! Rules it follows (from Microsoft's "OMA DM protocol support"):
//! - a command without `CmdID` is answered 400 with a blank `CmdRef`;
//! - a `LocURI` starting with `/` is answered 400;
//! - `Add` of an existing node is 418, `Delete` or `Get` of a missing one
//!   404, `Replace` adds implicitly;
//! - inside `Atomic`, a nested `Atomic` or a `Get` fails with 500, and so
//!   does a `Replace` of a node added earlier in the same `Atomic`; when
//!   anything fails the tree is rolled back, the `Atomic` is answered 507
//!   and the commands that had succeeded 216;
//! - a server message without `Final` is answered with the statuses and
//!   Alert 1222 (send the next message);
//! - a server message with `Final` and only statuses ends the session;
//! - a value sent as a large object (chunks with `MoreData`) is buffered,
//!   each chunk answered 213, and applied with the last one if it has the
//!   `Size` the first declared (424 otherwise);
//! - a `Results` value that does not fit one message (the server's
//!   `MaxMsgSize` when its header has one, else
//!   [`TestDevice::with_chunk_size`]) goes in chunks: `MoreData` on each
//!   but the last, the whole `Size` on the first, no `Final` until the last
//!   chunk, the next chunk when the server asks with Alert 1222.
//!
//! It is a test double, not an emulator: CSP semantics (which nodes exist,
//! tattooing, refused deletes) are not modelled.

use std::collections::{BTreeMap, HashSet, VecDeque};

use crate::enroll::{
    Credentials, DiscoverRequest, DiscoverResponse, ProtocolVersion, ProvisioningDoc,
    RequestSecurityToken, RequestSecurityTokenResponse,
};
use crate::error::EnrollmentError;
use crate::locuri::LocUri;
use crate::status::{AlertCode, StatusCode};
use crate::syncml::{
    Alert, CmdId, Command, Format, Item, ItemCommand, Location, Meta, MsgId, Results, Status,
    SyncHdr, SyncMl,
};

#[derive(Debug, Clone, PartialEq, Eq)]
struct Node {
    uri: String,
    value: String,
    format: Option<Format>,
}

/// A simulated Windows device.
#[derive(Debug, Clone)]
pub struct TestDevice {
    device_id: String,
    tree: BTreeMap<String, Node>,
    session: u64,
    msg: u64,
    server_uri: String,
    cmd: u64,
    provisioning: Option<ProvisioningDoc>,
    in_session: bool,
    max_msg_size: usize,
    /// A large object being received: its node (key), the value so far
    /// and the `Size` its first chunk declared.
    chunk: Option<(String, String, Option<usize>)>,
    /// The largest message the device sends when the server announces no
    /// `MaxMsgSize` (`None`: results are never split).
    chunk_size: Option<usize>,
    /// Results waiting to go out, and whether their first chunk (with the
    /// `Size`) went already.
    outbox: VecDeque<(Results, bool)>,
}

fn key(uri: &LocUri) -> String {
    uri.normalized().to_ascii_lowercase()
}

impl TestDevice {
    /// A device with `./DevInfo` filled in.
    pub fn new(device_id: impl Into<String>) -> Self {
        let device_id = device_id.into();
        let mut d = Self {
            device_id: device_id.clone(),
            tree: BTreeMap::new(),
            session: 0,
            msg: 0,
            server_uri: String::new(),
            cmd: 0,
            provisioning: None,
            in_session: false,
            max_msg_size: 65536,
            chunk: None,
            chunk_size: None,
            outbox: VecDeque::new(),
        };
        d.set("./DevInfo/DevId", &device_id, Some(Format::Chr));
        d.set("./DevInfo/Man", "Contoso Ltd", Some(Format::Chr));
        d.set("./DevInfo/Mod", "Surface Laptop", Some(Format::Chr));
        d.set("./DevInfo/DmV", "1.3", Some(Format::Chr));
        d.set("./DevInfo/Lang", "en-US", Some(Format::Chr));
        d.set("./DevDetail/SwV", "10.0.26100.1", Some(Format::Chr));
        d.set("./DevDetail/OEM", "Contoso Ltd", Some(Format::Chr));
        d.set("./DevDetail/FwV", "1.2.3", Some(Format::Chr));
        d.set(
            "./DevDetail/Ext/Microsoft/DeviceName",
            "PC-01",
            Some(Format::Chr),
        );
        d.set(
            "./DevDetail/Ext/Microsoft/SMBIOSSerialNumber",
            "SN-0001",
            Some(Format::Chr),
        );
        d
    }

    /// Sets the `MaxMsgSize` the device announces in its headers (65536 by
    /// default).
    pub fn with_max_msg_size(mut self, bytes: usize) -> Self {
        self.max_msg_size = bytes;
        self
    }

    /// Sets the largest message the device sends when the server announces
    /// no `MaxMsgSize`: a `Results` value that does not fit goes as a large
    /// object, in chunks (by default results are never split).
    pub fn with_chunk_size(mut self, bytes: usize) -> Self {
        self.chunk_size = Some(bytes);
        self
    }

    /// The `SessionID` the next [`TestDevice::open_session`] will use.
    pub fn next_session_id(&self) -> u64 {
        if self.in_session || self.msg > 0 {
            self.session + 1
        } else {
            self.session
        }
    }

    /// A device enrolled earlier (by another process) with `server_uri`,
    /// whose next session has `SessionID` `session`: a session id is not
    /// reused for a device that was saved and loaded again.
    pub fn resumed(mut self, server_uri: impl Into<String>, session: u64) -> Self {
        self.server_uri = server_uri.into();
        self.session = session;
        self.msg = 0;
        self.in_session = false;
        self
    }

    /// Sets a leaf node (character data), as the device's own software
    /// would: a WNS channel the DMClient registered, a setting changed on
    /// the device.
    pub fn set_node(&mut self, uri: &str, value: &str) {
        self.set(uri, value, Some(Format::Chr));
    }

    /// The device id.
    pub fn device_id(&self) -> &str {
        &self.device_id
    }

    fn set(&mut self, uri: &str, value: &str, format: Option<Format>) {
        let u = LocUri::new(uri);
        self.tree.insert(
            key(&u),
            Node {
                uri: u.normalized().into_owned(),
                value: value.to_owned(),
                format,
            },
        );
    }

    /// The value of a leaf node, by any spelling of its URI.
    pub fn node(&self, uri: &str) -> Option<&str> {
        self.tree
            .get(&key(&LocUri::new(uri)))
            .map(|n| n.value.as_str())
    }

    /// The provisioning document installed by enrollment.
    pub fn provisioning(&self) -> Option<&ProvisioningDoc> {
        self.provisioning.as_ref()
    }

    // ----- enrollment -----

    /// The discovery request for `email`, with a given `RequestVersion`.
    pub fn discovery_request(
        &self,
        email: &str,
        version: ProtocolVersion,
        discovery_url: &str,
    ) -> String {
        let mut r = DiscoverRequest::new(email, version);
        r.message_id = Some("urn:uuid:7f1c9a2e-0000-4000-8000-000000000001".into());
        r.to_xml(discovery_url)
    }

    /// The certificate request, from the discovery response the server
    /// sent, with the device's PKCS#10 request.
    pub fn enrollment_request(
        &self,
        discovery_response: &[u8],
        csr_der: Vec<u8>,
    ) -> Result<(DiscoverResponse, String), EnrollmentError> {
        self.enrollment_request_with(discovery_response, csr_der, Credentials::None)
    }

    /// The certificate request with credentials in its WS-Security header
    /// (OnPremise: the user name and the enrollment token as password).
    pub fn enrollment_request_with(
        &self,
        discovery_response: &[u8],
        csr_der: Vec<u8>,
        credentials: Credentials,
    ) -> Result<(DiscoverResponse, String), EnrollmentError> {
        let d = DiscoverResponse::read(discovery_response)?;
        let rst = RequestSecurityToken::new(csr_der)
            .with_credentials(credentials)
            .with_context("UXInitiated", "true")
            .with_context("HWDevID", "A1B2C3D4E5F6")
            .with_context("Locale", "en-US")
            .with_context("TargetedUserLoggedIn", "true")
            .with_context("OSEdition", "72")
            .with_context("DeviceName", "PC-01")
            .with_context("MAC", "00-15-5D-00-00-01")
            .with_context("MAC", "00-15-5D-00-00-02")
            .with_context("DeviceID", self.device_id.clone())
            .with_context("EnrollmentType", "Full")
            .with_context("DeviceType", "CIMClient_Windows")
            .with_context("OSVersion", "10.0.26100.1")
            .with_context("ApplicationVersion", "10.0.26100.1");
        let xml = rst.to_xml(
            "urn:uuid:7f1c9a2e-0000-4000-8000-000000000002",
            &d.enrollment_service_url,
        );
        Ok((d, xml))
    }

    /// Installs the provisioning document from the enrollment response:
    /// the certificates into `./Vendor/MSFT/CertificateStore`, the server
    /// into `./Vendor/MSFT/DMClient`.
    pub fn accept_enrollment(
        &mut self,
        response: &[u8],
    ) -> Result<&ProvisioningDoc, EnrollmentError> {
        let r = RequestSecurityTokenResponse::read(response)?;
        let doc = ProvisioningDoc::read(r.provisioning_xml.as_bytes())?;
        let root = crate::enroll::thumbprint(&doc.root_ca_der);
        let mine = crate::enroll::thumbprint(&doc.client_cert_der);
        self.set(
            &format!("./Vendor/MSFT/CertificateStore/Root/System/{root}/EncodedCertificate"),
            "installed",
            Some(Format::B64),
        );
        self.set(
            &format!("./Vendor/MSFT/CertificateStore/My/User/{mine}/EncodedCertificate"),
            "installed",
            Some(Format::B64),
        );
        let p = doc.provider_id.clone();
        self.set(
            &format!("./Vendor/MSFT/DMClient/Provider/{p}/EnrollmentType"),
            "Full",
            Some(Format::Chr),
        );
        self.server_uri = doc.server_url.clone();
        Ok(self.provisioning.insert(doc))
    }

    // ----- management sessions -----

    fn next_cmd(&mut self) -> CmdId {
        self.cmd += 1;
        CmdId::from(self.cmd)
    }

    fn header(&mut self) -> SyncHdr {
        self.msg += 1;
        let mut h = SyncHdr::new(
            self.session.to_string(),
            self.msg.to_string(),
            self.server_uri.as_str(),
            self.device_id.as_str(),
        );
        h.meta = Some(Box::new(Meta::max_msg_size(self.max_msg_size as u64)));
        h
    }

    /// Opens a session with the enrolled server (or `server_uri` when not
    /// enrolled): Alert 1201, Alert 1224 with the login status, the
    /// `./DevInfo` nodes, `Final`. The first session has SessionID 0.
    pub fn open_session(&mut self, server_uri: &str) -> SyncMl {
        if self.server_uri.is_empty() {
            self.server_uri = server_uri.to_owned();
        }
        if self.in_session || self.msg > 0 {
            self.session += 1;
        }
        self.msg = 0;
        self.cmd = 0;
        self.in_session = true;
        self.outbox.clear();
        let header = self.header();
        let mut commands = vec![Command::Alert(Alert::new(
            self.next_cmd(),
            AlertCode::CLIENT_INITIATED,
        ))];
        let mut login = Alert::new(self.next_cmd(), AlertCode::CLIENT_EVENT);
        login.items.push(
            Item::default()
                .with_meta(
                    Meta::type_only("com.microsoft/MDM/LoginStatus").with_format(Format::Chr),
                )
                .with_data("user"),
        );
        commands.push(Command::Alert(login));
        let mut devinfo = ItemCommand {
            cmd_id: Some(self.next_cmd()),
            ..ItemCommand::default()
        };
        for n in self
            .tree
            .values()
            .filter(|n| n.uri.starts_with("./DevInfo/"))
        {
            devinfo
                .items
                .push(Item::source(n.uri.as_str()).with_data(n.value.as_str()));
        }
        commands.push(Command::Replace(devinfo));
        SyncMl {
            header,
            commands,
            final_: true,
        }
    }

    /// Answers a server message; `None` when the message ends the session.
    pub fn handle(&mut self, server: &SyncMl) -> Option<SyncMl> {
        let only_statuses = server
            .commands
            .iter()
            .all(|c| matches!(c, Command::Status(_)));
        if server.final_ && only_statuses {
            self.in_session = false;
            return None;
        }
        self.cmd = 0;
        let header = self.header();
        let msg_ref = server.header.msg_id.clone();
        let mut out = Vec::new();
        let mut hs = Status::new(
            self.next_cmd(),
            msg_ref.clone(),
            Some(CmdId::new("0")),
            "SyncHdr",
            StatusCode::OK,
        );
        hs.target_refs
            .push(server.header.target.loc_uri.as_str().to_owned());
        hs.source_refs
            .push(server.header.source.loc_uri.as_str().to_owned());
        out.push(Command::Status(hs));
        for c in &server.commands {
            self.run(c, &msg_ref, &mut out);
        }
        // Results go last, chunked when they do not fit.
        let (results, mut out): (Vec<Command>, Vec<Command>) = out
            .into_iter()
            .partition(|c| matches!(c, Command::Results(_)));
        self.outbox
            .extend(results.into_iter().filter_map(|c| match c {
                Command::Results(r) => Some((r, false)),
                _ => None,
            }));
        let limit = server
            .header
            .meta
            .as_ref()
            .and_then(|m| m.max_msg_size.as_deref())
            .and_then(|v| v.trim().parse::<usize>().ok())
            .or(self.chunk_size);
        let mut msg = SyncMl {
            header,
            commands: out.split_off(0),
            final_: true,
        };
        self.fill(&mut msg, limit);
        if !server.final_ && self.outbox.is_empty() {
            let a = Alert::new(self.next_cmd(), AlertCode::NEXT_MESSAGE);
            msg.commands.push(Command::Alert(a));
        }
        msg.final_ = self.outbox.is_empty();
        Some(msg)
    }

    /// Moves results from the outbox into `msg` while they fit `limit`;
    /// the first that does not fit goes in part, as a chunk with
    /// `MoreData`, its rest first in the outbox.
    fn fill(&mut self, msg: &mut SyncMl, limit: Option<usize>) {
        // `</Final>` and some slack for the Alert that may follow.
        const SLACK: usize = 160;
        while let Some((mut r, continuing)) = self.outbox.pop_front() {
            r.cmd_id = Some(self.next_cmd());
            let size = msg.to_xml().len() + SLACK;
            let whole = Command::Results(r.clone()).to_xml().len();
            let Some(limit) = limit.filter(|&l| size + whole > l) else {
                msg.commands.push(Command::Results(r));
                continue;
            };
            let room = limit.saturating_sub(size);
            let Some(last) = r.items.pop() else {
                msg.commands.push(Command::Results(r));
                continue;
            };
            let value = last.data.as_ref().map_or("", |d| d.as_str()).to_owned();
            let mut n = value.len();
            let mut chunk = None;
            for _ in 0..64 {
                let mut end = n.min(value.len());
                while end > 0 && !value.is_char_boundary(end) {
                    end -= 1;
                }
                if end == 0 {
                    break;
                }
                let c = self.chunk_of(&r, &last, &value[..end], !continuing, value.len());
                let len = Command::Results(c.clone()).to_xml().len();
                chunk = Some((c, end));
                if len <= room {
                    break;
                }
                n = (end.saturating_mul(room) / len).min(end - 1);
            }
            let (c, end) = match chunk {
                // Progress even when nothing fits: one character.
                Some((c, end)) if end < value.len() => (c, end),
                _ => {
                    let end = value.chars().next().map_or(0, char::len_utf8);
                    if end >= value.len() {
                        r.items.push(last);
                        msg.commands.push(Command::Results(r));
                        continue;
                    }
                    (
                        self.chunk_of(&r, &last, &value[..end], !continuing, value.len()),
                        end,
                    )
                }
            };
            msg.commands.push(Command::Results(c));
            let mut rest = last;
            rest.data = Some(value[end..].into());
            if let Some(m) = rest.meta.as_mut() {
                m.size = None;
            }
            let continuation = Results {
                items: vec![rest],
                ..r
            };
            self.outbox.push_front((continuation, true));
            return;
        }
    }

    /// `r` with `last` cut to `piece` and `MoreData` (and, on the first
    /// chunk, the whole value's `Size`).
    fn chunk_of(
        &self,
        r: &Results,
        last: &Item,
        piece: &str,
        first: bool,
        total: usize,
    ) -> Results {
        let mut it = last.clone();
        it.data = Some(piece.into());
        it.more_data = true;
        if first {
            it.meta.get_or_insert_with(Box::default).size = Some(total.to_string());
        }
        let mut c = r.clone();
        c.items.push(it);
        c
    }

    fn status(&mut self, msg_ref: &MsgId, c: &Command, code: StatusCode) -> Status {
        let mut s = Status::new(
            self.next_cmd(),
            msg_ref.clone(),
            c.cmd_id().cloned(),
            c.name(),
            code,
        );
        if let Some(u) = c.items().first().and_then(Item::uri) {
            s.target_refs.push(u.as_str().to_owned());
        }
        s
    }

    fn run(&mut self, c: &Command, msg_ref: &MsgId, out: &mut Vec<Command>) {
        match c {
            Command::Status(_) | Command::Results(_) => {}
            Command::Atomic(k) => {
                let snapshot = self.tree.clone();
                let mut added = HashSet::new();
                let mut inner = Vec::new();
                let mut failed = false;
                for child in &k.commands {
                    let code = match child {
                        Command::Atomic(_) | Command::Get(_) => StatusCode::COMMAND_FAILED,
                        Command::Replace(r)
                            if r.items
                                .iter()
                                .filter_map(Item::uri)
                                .any(|u| added.contains(&key(u))) =>
                        {
                            StatusCode::COMMAND_FAILED
                        }
                        _ => {
                            let code = self.apply(child, msg_ref, &mut Vec::new());
                            if let Command::Add(a) = child
                                && code.is_success()
                            {
                                added.extend(a.items.iter().filter_map(Item::uri).map(key));
                            }
                            code
                        }
                    };
                    failed |= !code.is_success();
                    inner.push((child, code));
                }
                if failed {
                    self.tree = snapshot;
                }
                if !c.no_resp() {
                    let code = if failed {
                        StatusCode::ATOMIC_FAILED
                    } else {
                        StatusCode::OK
                    };
                    let s = self.status(msg_ref, c, code);
                    out.push(Command::Status(s));
                }
                for (child, code) in inner {
                    let code = if failed && code.is_success() {
                        StatusCode::ATOMIC_ROLLBACK_OK
                    } else {
                        code
                    };
                    if !child.no_resp() {
                        let s = self.status(msg_ref, child, code);
                        out.push(Command::Status(s));
                    }
                }
            }
            Command::Sequence(k) => {
                if !c.no_resp() {
                    let s = self.status(msg_ref, c, StatusCode::OK);
                    out.push(Command::Status(s));
                }
                for child in &k.commands {
                    self.run(child, msg_ref, out);
                }
            }
            _ => {
                let mut results = Vec::new();
                let code = self.apply(c, msg_ref, &mut results);
                if !c.no_resp() {
                    let s = self.status(msg_ref, c, code);
                    out.push(Command::Status(s));
                }
                for r in results {
                    let mut r = r;
                    r.cmd_id = Some(self.next_cmd());
                    out.push(Command::Results(r));
                }
            }
        }
    }

    /// Applies one non-container command; returns its status code.
    fn apply(&mut self, c: &Command, msg_ref: &MsgId, results: &mut Vec<Results>) -> StatusCode {
        if c.cmd_id().is_none() {
            return StatusCode::BAD_REQUEST;
        }
        let items = c.items();
        for it in items {
            if let Some(u) = it.target.as_ref().map(|l| &l.loc_uri)
                && (u.as_str().starts_with('/') || u.check_node().is_err())
            {
                return StatusCode::BAD_REQUEST;
            }
        }
        let target = |it: &Item| it.target.as_ref().map(|l| l.loc_uri.clone());
        // Large objects: chunks with MoreData are buffered (213); the last
        // one completes the value, which must have the declared Size.
        let mut assembled: Option<String> = None;
        let pending = self.chunk.take();
        if let (Command::Add(_) | Command::Replace(_), [it]) = (c, items) {
            let Some(u) = target(it) else {
                return StatusCode::BAD_REQUEST;
            };
            let k = key(&u);
            let piece = it.data.as_ref().map_or("", |d| d.as_str());
            let (mut acc, declared) = match pending {
                Some((pk, acc, d)) if pk == k => (acc, d),
                _ => (
                    String::new(),
                    it.meta
                        .as_ref()
                        .and_then(|m| m.size.as_deref())
                        .and_then(|v| v.trim().parse::<usize>().ok()),
                ),
            };
            if it.more_data || !acc.is_empty() {
                acc.push_str(piece);
                if it.more_data {
                    self.chunk = Some((k, acc, declared));
                    return StatusCode::CHUNK_ACCEPTED;
                }
                if declared.is_some_and(|d| d != acc.len()) {
                    return StatusCode::SIZE_MISMATCH;
                }
                assembled = Some(acc);
            }
        }
        let value_of = |it: &Item| {
            assembled
                .clone()
                .unwrap_or_else(|| it.data.as_ref().map_or("", |d| d.as_str()).to_owned())
        };
        match c {
            Command::Add(_) => {
                for it in items {
                    let Some(u) = target(it) else {
                        return StatusCode::BAD_REQUEST;
                    };
                    if self.tree.contains_key(&key(&u)) {
                        return StatusCode::ALREADY_EXISTS;
                    }
                    let value = value_of(it);
                    let format = it.meta.as_ref().and_then(|m| m.format.clone());
                    self.set(u.as_str(), &value, format);
                }
                StatusCode::OK
            }
            Command::Replace(_) => {
                for it in items {
                    let Some(u) = target(it) else {
                        return StatusCode::BAD_REQUEST;
                    };
                    let value = value_of(it);
                    let format = it.meta.as_ref().and_then(|m| m.format.clone());
                    self.set(u.as_str(), &value, format);
                }
                StatusCode::OK
            }
            Command::Delete(_) => {
                for it in items {
                    let Some(u) = target(it) else {
                        return StatusCode::BAD_REQUEST;
                    };
                    let k = key(&u);
                    let prefix = format!("{k}/");
                    let before = self.tree.len();
                    self.tree.retain(|n, _| *n != k && !n.starts_with(&prefix));
                    if self.tree.len() == before {
                        return StatusCode::NOT_FOUND;
                    }
                }
                StatusCode::OK
            }
            Command::Get(_) => {
                let mut found = Vec::new();
                for it in items {
                    let Some(u) = target(it) else {
                        return StatusCode::BAD_REQUEST;
                    };
                    let k = key(&u);
                    if let Some(n) = self.tree.get(&k) {
                        let mut item = Item::source(u.as_str()).with_data(n.value.as_str());
                        if let Some(f) = &n.format {
                            item.meta = Some(Box::new(Meta::format(f.clone())));
                        }
                        found.push(item);
                        continue;
                    }
                    let prefix = format!("{k}/");
                    let mut children: Vec<String> = self
                        .tree
                        .iter()
                        .filter(|(k2, _)| k2.starts_with(&prefix))
                        .filter_map(|(_, n)| n.uri.get(prefix.len()..))
                        .filter_map(|rest| rest.split('/').next())
                        .map(str::to_owned)
                        .collect();
                    children.dedup();
                    if children.is_empty() {
                        return StatusCode::NOT_FOUND;
                    }
                    found.push(
                        Item::source(u.as_str())
                            .with_meta(Meta::format(Format::Node))
                            .with_data(children.join("/")),
                    );
                }
                results.push(Results {
                    cmd_id: None,
                    msg_ref: Some(msg_ref.clone()),
                    cmd_ref: c.cmd_id().cloned(),
                    meta: None,
                    target_refs: Vec::new(),
                    source_refs: Vec::new(),
                    items: found,
                });
                StatusCode::OK
            }
            Command::Exec(_) => StatusCode::OK,
            Command::Alert(_) => StatusCode::OK,
            _ => StatusCode::OPTIONAL_FEATURE_NOT_SUPPORTED,
        }
    }

    /// A generic alert (1226) the device raises, for example when the user
    /// unenrolls: `Meta` `Type` and `Format` and a `Data` value.
    pub fn generic_alert(&mut self, type_: &str, source: &str, data: &str) -> SyncMl {
        self.msg = 0;
        self.cmd = 0;
        self.session += 1;
        let header = self.header();
        let mut a = Alert::new(self.next_cmd(), AlertCode::GENERIC);
        a.items.push(Item {
            source: Some(Location::new(source)),
            meta: Some(Box::new(Meta::type_only(type_).with_format(Format::Int))),
            data: Some(data.into()),
            ..Item::default()
        });
        SyncMl {
            header,
            commands: vec![
                Command::Alert(Alert::new(self.next_cmd(), AlertCode::CLIENT_INITIATED)),
                Command::Alert(a),
            ],
            final_: true,
        }
    }
}
