//! Reading SyncML: untrusted bytes to a [`SyncMl`], with limits.

use quick_xml::events::BytesStart;

use super::model::*;
use crate::error::{ReadError, ReadErrorKind, cut};
use crate::locuri::LocUri;
use crate::status::{AlertCode, StatusCode};
use crate::xml::{Ev, Pull, local};

/// Limits applied while reading a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// Largest message, in bytes (default 8 MiB).
    pub max_bytes: usize,
    /// Deepest element nesting (default 32; a DM message needs about 8).
    pub max_depth: usize,
    /// Most commands in a message, nested ones included (default 20,000).
    pub max_commands: usize,
    /// Most items in one command (default 10,000).
    pub max_items: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_bytes: 8 * 1024 * 1024,
            max_depth: 32,
            max_commands: 20_000,
            max_items: 10_000,
        }
    }
}

impl Limits {
    /// Sets `max_bytes`.
    pub fn with_max_bytes(mut self, n: usize) -> Self {
        self.max_bytes = n;
        self
    }
    /// Sets `max_depth`.
    pub fn with_max_depth(mut self, n: usize) -> Self {
        self.max_depth = n;
        self
    }
    /// Sets `max_commands`.
    pub fn with_max_commands(mut self, n: usize) -> Self {
        self.max_commands = n;
        self
    }
    /// Sets `max_items`.
    pub fn with_max_items(mut self, n: usize) -> Self {
        self.max_items = n;
        self
    }
}

impl SyncMl {
    /// Reads a message with the default [`Limits`].
    pub fn read(input: &[u8]) -> Result<SyncMl, ReadError> {
        Self::read_with(input, &Limits::default())
    }

    /// Reads a message with the given limits.
    pub fn read_with(input: &[u8], limits: &Limits) -> Result<SyncMl, ReadError> {
        let mut p = Pull::new(input, limits.max_bytes, limits.max_depth)?;
        let (root, empty) = p.root()?;
        if local(&root) != "SyncML" {
            return Err(p.err(ReadErrorKind::UnexpectedRoot {
                found: cut(local(&root)),
                expected: "SyncML",
            }));
        }
        let root_at = p.last_start;
        if empty {
            return Err(ReadError::new(
                root_at,
                ReadErrorKind::MissingElement {
                    name: "SyncHdr",
                    parent: "SyncML".into(),
                },
            ));
        }
        let mut r = Syncml {
            limits,
            commands: 0,
        };
        let mut header = None;
        let mut body = None;
        p.children("SyncML", |p, e, empty| match local(&e) {
            "SyncHdr" if header.is_none() => {
                header = Some(r.header(p, empty)?);
                Ok(())
            }
            "SyncBody" if body.is_none() => {
                body = Some(r.body(p, empty)?);
                Ok(())
            }
            n @ ("SyncHdr" | "SyncBody") => Err(dup(p, n, "SyncML")),
            n => Err(unexpected(p, n, "SyncML")),
        })?;
        p.finish()?;
        let header = header.ok_or_else(|| missing(root_at, "SyncHdr", "SyncML"))?;
        let (commands, final_) = body.ok_or_else(|| missing(root_at, "SyncBody", "SyncML"))?;
        Ok(SyncMl {
            header,
            commands,
            final_,
        })
    }
}

fn unexpected(p: &Pull<'_>, name: &str, parent: &str) -> ReadError {
    p.err(ReadErrorKind::UnexpectedElement {
        name: cut(name),
        parent: parent.to_owned(),
    })
}

fn dup(p: &Pull<'_>, name: &str, parent: &str) -> ReadError {
    p.err(ReadErrorKind::DuplicateElement {
        name: name.to_owned(),
        parent: parent.to_owned(),
    })
}

fn missing(at: u64, name: &'static str, parent: &str) -> ReadError {
    ReadError::new(
        at,
        ReadErrorKind::MissingElement {
            name,
            parent: parent.to_owned(),
        },
    )
}

fn set<T>(
    p: &Pull<'_>,
    slot: &mut Option<T>,
    v: T,
    name: &str,
    parent: &str,
) -> Result<(), ReadError> {
    if slot.is_some() {
        return Err(dup(p, name, parent));
    }
    *slot = Some(v);
    Ok(())
}

fn number(p: &Pull<'_>, element: &'static str, s: &str) -> Result<u16, ReadError> {
    s.parse::<u16>().map_err(|_| {
        p.err(ReadErrorKind::BadNumber {
            element,
            value: cut(s),
        })
    })
}

fn non_empty<T: From<String>>(s: String) -> Option<T> {
    if s.is_empty() { None } else { Some(T::from(s)) }
}

struct Syncml<'l> {
    limits: &'l Limits,
    commands: usize,
}

impl Syncml<'_> {
    fn header(&mut self, p: &mut Pull<'_>, empty: bool) -> Result<SyncHdr, ReadError> {
        const P: &str = "SyncHdr";
        let at = p.last_start;
        let (mut ver_dtd, mut ver_proto, mut session_id, mut msg_id) = (None, None, None, None);
        let (mut target, mut source, mut resp_uri, mut cred, mut meta) =
            (None, None, None, None, None);
        let mut no_resp = false;
        if !empty {
            p.children(P, |p, e, empty| {
                let n = local(&e);
                match n {
                    "VerDTD" => {
                        let v = p.trimmed(n, empty)?;
                        set(p, &mut ver_dtd, v, n, P)
                    }
                    "VerProto" => {
                        let v = p.trimmed(n, empty)?;
                        set(p, &mut ver_proto, v, n, P)
                    }
                    "SessionID" => {
                        let v = p.trimmed(n, empty)?;
                        set(p, &mut session_id, SessionId::new(v), n, P)
                    }
                    "MsgID" => {
                        let v = p.trimmed(n, empty)?;
                        set(p, &mut msg_id, MsgId::new(v), n, P)
                    }
                    "Target" => {
                        let v = location(p, n, empty)?;
                        set(p, &mut target, v, n, P)
                    }
                    "Source" => {
                        let v = location(p, n, empty)?;
                        set(p, &mut source, v, n, P)
                    }
                    "RespURI" => {
                        let v = p.trimmed(n, empty)?;
                        set(p, &mut resp_uri, v, n, P)
                    }
                    "NoResp" => {
                        p.skip(empty)?;
                        no_resp = true;
                        Ok(())
                    }
                    "Cred" => {
                        let v = read_cred(p, empty)?;
                        set(p, &mut cred, v, n, P)
                    }
                    "Meta" => {
                        let v = read_meta(p, n, empty)?;
                        set(p, &mut meta, v, n, P)
                    }
                    _ => Err(unexpected(p, n, P)),
                }
            })?;
        }
        Ok(SyncHdr {
            ver_dtd: ver_dtd.ok_or_else(|| missing(at, "VerDTD", P))?,
            ver_proto: ver_proto.ok_or_else(|| missing(at, "VerProto", P))?,
            session_id: session_id.ok_or_else(|| missing(at, "SessionID", P))?,
            msg_id: msg_id.ok_or_else(|| missing(at, "MsgID", P))?,
            target: target.ok_or_else(|| missing(at, "Target", P))?,
            source: source.ok_or_else(|| missing(at, "Source", P))?,
            resp_uri,
            no_resp,
            cred,
            meta,
        })
    }

    fn body(&mut self, p: &mut Pull<'_>, empty: bool) -> Result<(Vec<Command>, bool), ReadError> {
        let mut commands = Vec::new();
        let mut final_ = false;
        if empty {
            return Ok((commands, final_));
        }
        p.children("SyncBody", |p, e, empty| {
            if local(&e) == "Final" {
                p.skip(empty)?;
                final_ = true;
                return Ok(());
            }
            commands.push(self.command(p, &e, empty, "SyncBody")?);
            Ok(())
        })?;
        Ok((commands, final_))
    }

    fn command(
        &mut self,
        p: &mut Pull<'_>,
        e: &BytesStart<'_>,
        empty: bool,
        parent: &str,
    ) -> Result<Command, ReadError> {
        self.commands += 1;
        if self.commands > self.limits.max_commands {
            return Err(p.err(ReadErrorKind::TooManyCommands {
                max: self.limits.max_commands,
            }));
        }
        let name = local(e);
        Ok(match name {
            "Add" => Command::Add(self.item_command(p, name, empty)?),
            "Replace" => Command::Replace(self.item_command(p, name, empty)?),
            "Delete" => Command::Delete(self.item_command(p, name, empty)?),
            "Get" => Command::Get(self.item_command(p, name, empty)?),
            "Copy" => Command::Copy(self.item_command(p, name, empty)?),
            "Exec" => Command::Exec(self.item_command(p, name, empty)?),
            "Alert" => Command::Alert(self.alert(p, empty)?),
            "Atomic" => Command::Atomic(self.container(p, name, empty)?),
            "Sequence" => Command::Sequence(self.container(p, name, empty)?),
            "Status" => Command::Status(self.status(p, empty)?),
            "Results" => Command::Results(self.results(p, empty)?),
            other => return Err(unexpected(p, other, parent)),
        })
    }

    fn push_item(
        &self,
        p: &mut Pull<'_>,
        items: &mut Vec<Item>,
        empty: bool,
    ) -> Result<(), ReadError> {
        if items.len() >= self.limits.max_items {
            return Err(p.err(ReadErrorKind::TooManyItems {
                max: self.limits.max_items,
            }));
        }
        items.push(read_item(p, empty)?);
        Ok(())
    }

    fn item_command(
        &mut self,
        p: &mut Pull<'_>,
        cmd: &str,
        empty: bool,
    ) -> Result<ItemCommand, ReadError> {
        let mut c = ItemCommand::default();
        if empty {
            return Ok(c);
        }
        let mut cmd_id = None;
        let (mut cred, mut meta, mut correlator) = (None, None, None);
        p.children(cmd, |p, e, empty| {
            let n = local(&e);
            match n {
                "CmdID" => {
                    let v = p.trimmed(n, empty)?;
                    set(p, &mut cmd_id, v, n, cmd)
                }
                "NoResp" => {
                    p.skip(empty)?;
                    c.no_resp = true;
                    Ok(())
                }
                "Cred" => {
                    let v = read_cred(p, empty)?;
                    set(p, &mut cred, v, n, cmd)
                }
                "Meta" => {
                    let v = read_meta(p, n, empty)?;
                    set(p, &mut meta, v, n, cmd)
                }
                "Correlator" => {
                    let v = p.trimmed(n, empty)?;
                    set(p, &mut correlator, v, n, cmd)
                }
                "Item" => self.push_item(p, &mut c.items, empty),
                _ => Err(unexpected(p, n, cmd)),
            }
        })?;
        c.cmd_id = cmd_id.and_then(non_empty);
        c.cred = cred;
        c.meta = meta;
        c.correlator = correlator;
        Ok(c)
    }

    fn alert(&mut self, p: &mut Pull<'_>, empty: bool) -> Result<Alert, ReadError> {
        const P: &str = "Alert";
        let at = p.last_start;
        if empty {
            return Err(missing(at, "Data", P));
        }
        let (mut cmd_id, mut cred, mut correlator, mut code) = (None, None, None, None);
        let mut no_resp = false;
        let mut items = Vec::new();
        p.children(P, |p, e, empty| {
            let n = local(&e);
            match n {
                "CmdID" => {
                    let v = p.trimmed(n, empty)?;
                    set(p, &mut cmd_id, v, n, P)
                }
                "NoResp" => {
                    p.skip(empty)?;
                    no_resp = true;
                    Ok(())
                }
                "Cred" => {
                    let v = read_cred(p, empty)?;
                    set(p, &mut cred, v, n, P)
                }
                "Correlator" => {
                    let v = p.trimmed(n, empty)?;
                    set(p, &mut correlator, v, n, P)
                }
                "Data" => {
                    let v = p.trimmed_cow(n, empty)?;
                    let v = AlertCode::new(number(p, "Data", &v)?);
                    set(p, &mut code, v, n, P)
                }
                "Item" => self.push_item(p, &mut items, empty),
                _ => Err(unexpected(p, n, P)),
            }
        })?;
        Ok(Alert {
            cmd_id: cmd_id.and_then(non_empty),
            no_resp,
            cred,
            correlator,
            code: code.ok_or_else(|| missing(at, "Data", P))?,
            items,
        })
    }

    fn container(
        &mut self,
        p: &mut Pull<'_>,
        cmd: &str,
        empty: bool,
    ) -> Result<Container, ReadError> {
        let mut c = Container::default();
        if empty {
            return Ok(c);
        }
        let (mut cmd_id, mut meta) = (None, None);
        let mut commands = Vec::new();
        p.children(cmd, |p, e, empty| {
            let n = local(&e);
            match n {
                "CmdID" => {
                    let v = p.trimmed(n, empty)?;
                    set(p, &mut cmd_id, v, n, cmd)
                }
                "NoResp" => {
                    p.skip(empty)?;
                    c.no_resp = true;
                    Ok(())
                }
                "Meta" => {
                    let v = read_meta(p, n, empty)?;
                    set(p, &mut meta, v, n, cmd)
                }
                _ => {
                    commands.push(self.command(p, &e, empty, cmd)?);
                    Ok(())
                }
            }
        })?;
        c.cmd_id = cmd_id.and_then(non_empty);
        c.meta = meta;
        c.commands = commands;
        Ok(c)
    }

    fn status(&mut self, p: &mut Pull<'_>, empty: bool) -> Result<Status, ReadError> {
        const P: &str = "Status";
        let at = p.last_start;
        if empty {
            return Err(missing(at, "MsgRef", P));
        }
        let (mut cmd_id, mut msg_ref, mut cmd_ref, mut cmd) = (None, None, None, None);
        let (mut cred, mut chal, mut code) = (None, None, None);
        let (mut target_refs, mut source_refs, mut items) = (Vec::new(), Vec::new(), Vec::new());
        p.children(P, |p, e, empty| {
            let n = local(&e);
            match n {
                "CmdID" => {
                    let v = p.trimmed(n, empty)?;
                    set(p, &mut cmd_id, v, n, P)
                }
                "MsgRef" => {
                    let v = p.trimmed(n, empty)?;
                    set(p, &mut msg_ref, v, n, P)
                }
                "CmdRef" => {
                    let v = p.trimmed(n, empty)?;
                    set(p, &mut cmd_ref, v, n, P)
                }
                "Cmd" => {
                    let v = p.trimmed(n, empty)?;
                    set(p, &mut cmd, v, n, P)
                }
                "TargetRef" => {
                    target_refs.push(p.trimmed(n, empty)?);
                    Ok(())
                }
                "SourceRef" => {
                    source_refs.push(p.trimmed(n, empty)?);
                    Ok(())
                }
                "Cred" => {
                    let v = read_cred(p, empty)?;
                    set(p, &mut cred, v, n, P)
                }
                "Chal" => {
                    let mut m = None;
                    if !empty {
                        p.children(n, |p, e, empty| match local(&e) {
                            "Meta" => {
                                let v = read_meta(p, "Meta", empty)?;
                                set(p, &mut m, v, "Meta", "Chal")
                            }
                            other => Err(unexpected(p, other, "Chal")),
                        })?;
                    }
                    set(p, &mut chal, m.unwrap_or_default(), n, P)
                }
                "Data" => {
                    let v = p.trimmed_cow(n, empty)?;
                    let v = StatusCode::new(number(p, "Data", &v)?);
                    set(p, &mut code, v, n, P)
                }
                "Item" => self.push_item(p, &mut items, empty),
                _ => Err(unexpected(p, n, P)),
            }
        })?;
        Ok(Status {
            cmd_id: cmd_id.and_then(non_empty),
            msg_ref: MsgId::new(msg_ref.ok_or_else(|| missing(at, "MsgRef", P))?),
            cmd_ref: cmd_ref.and_then(non_empty),
            cmd: cmd.ok_or_else(|| missing(at, "Cmd", P))?,
            target_refs,
            source_refs,
            cred,
            chal,
            code: code.ok_or_else(|| missing(at, "Data", P))?,
            items,
        })
    }

    fn results(&mut self, p: &mut Pull<'_>, empty: bool) -> Result<Results, ReadError> {
        const P: &str = "Results";
        let (mut cmd_id, mut msg_ref, mut cmd_ref, mut meta) = (None, None, None, None);
        let (mut target_refs, mut source_refs, mut items) = (Vec::new(), Vec::new(), Vec::new());
        if !empty {
            p.children(P, |p, e, empty| {
                let n = local(&e);
                match n {
                    "CmdID" => {
                        let v = p.trimmed(n, empty)?;
                        set(p, &mut cmd_id, v, n, P)
                    }
                    "MsgRef" => {
                        let v = p.trimmed(n, empty)?;
                        set(p, &mut msg_ref, v, n, P)
                    }
                    "CmdRef" => {
                        let v = p.trimmed(n, empty)?;
                        set(p, &mut cmd_ref, v, n, P)
                    }
                    "Meta" => {
                        let v = read_meta(p, n, empty)?;
                        set(p, &mut meta, v, n, P)
                    }
                    "TargetRef" => {
                        target_refs.push(p.trimmed(n, empty)?);
                        Ok(())
                    }
                    "SourceRef" => {
                        source_refs.push(p.trimmed(n, empty)?);
                        Ok(())
                    }
                    "Item" => self.push_item(p, &mut items, empty),
                    _ => Err(unexpected(p, n, P)),
                }
            })?;
        }
        Ok(Results {
            cmd_id: cmd_id.and_then(non_empty),
            msg_ref: msg_ref.and_then(non_empty),
            cmd_ref: cmd_ref.and_then(non_empty),
            meta,
            target_refs,
            source_refs,
            items,
        })
    }
}

fn location(p: &mut Pull<'_>, parent: &str, empty: bool) -> Result<Location, ReadError> {
    let at = p.last_start;
    let (mut uri, mut name) = (None, None);
    if !empty {
        p.children(parent, |p, e, empty| {
            let n = local(&e);
            match n {
                "LocURI" => {
                    let v = p.trimmed(n, empty)?;
                    set(p, &mut uri, v, n, parent)
                }
                "LocName" => {
                    let v = p.trimmed(n, empty)?;
                    set(p, &mut name, v, n, parent)
                }
                _ => Err(unexpected(p, n, parent)),
            }
        })?;
    }
    Ok(Location {
        loc_uri: LocUri::new(uri.ok_or_else(|| missing(at, "LocURI", parent))?),
        loc_name: name,
    })
}

fn read_cred(p: &mut Pull<'_>, empty: bool) -> Result<Box<Cred>, ReadError> {
    const P: &str = "Cred";
    let at = p.last_start;
    let (mut meta, mut data) = (None, None);
    if !empty {
        p.children(P, |p, e, empty| {
            let n = local(&e);
            match n {
                "Meta" => {
                    let v = read_meta(p, n, empty)?;
                    set(p, &mut meta, v, n, P)
                }
                "Data" => {
                    let v = read_data(p, empty)?;
                    set(p, &mut data, v, n, P)
                }
                _ => Err(unexpected(p, n, P)),
            }
        })?;
    }
    Ok(Box::new(Cred {
        meta,
        data: data.ok_or_else(|| missing(at, "Data", P))?,
    }))
}

fn read_meta(p: &mut Pull<'_>, name: &str, empty: bool) -> Result<Box<Meta>, ReadError> {
    let mut m = Box::<Meta>::default();
    if empty {
        return Ok(m);
    }
    p.children(name, |p, e, empty| {
        let n = local(&e);
        let v = p.trimmed_cow(n, empty)?;
        let slot = match n {
            "Format" => return set(p, &mut m.format, Format::parse(&v), n, name),
            "Type" => &mut m.type_,
            "Mark" => &mut m.mark,
            "Size" => &mut m.size,
            "Version" => &mut m.version,
            "NextNonce" => &mut m.next_nonce,
            "MaxMsgSize" => &mut m.max_msg_size,
            "MaxObjSize" => &mut m.max_obj_size,
            _ => {
                if m.extra.len() >= 64 || !super::write::is_name(n) {
                    return Err(unexpected(p, n, name));
                }
                m.extra.push((n.to_owned(), v.into_owned()));
                return Ok(());
            }
        };
        set(p, slot, v.into_owned(), n, name)
    })?;
    Ok(m)
}

fn read_item(p: &mut Pull<'_>, empty: bool) -> Result<Item, ReadError> {
    const P: &str = "Item";
    let mut it = Item::default();
    if empty {
        return Ok(it);
    }
    p.children(P, |p, e, empty| {
        let n = local(&e);
        match n {
            "Target" => {
                let v = location(p, n, empty)?;
                set(p, &mut it.target, v, n, P)
            }
            "Source" => {
                let v = location(p, n, empty)?;
                set(p, &mut it.source, v, n, P)
            }
            "Meta" => {
                let v = read_meta(p, n, empty)?;
                set(p, &mut it.meta, v, n, P)
            }
            "Data" => {
                let v = read_data(p, empty)?;
                set(p, &mut it.data, v, n, P)
            }
            "MoreData" => {
                p.skip(empty)?;
                it.more_data = true;
                Ok(())
            }
            _ => Err(unexpected(p, n, P)),
        }
    })?;
    Ok(it)
}

/// Reads `<Data>` keeping its form: escaped text, CDATA sections (with
/// whitespace-only text around them ignored), or embedded elements kept as
/// their exact markup.
fn read_data(p: &mut Pull<'_>, empty: bool) -> Result<Data, ReadError> {
    if empty {
        return Ok(Data::text(""));
    }
    let content_start = p.pos();
    let mut text = String::new();
    let mut cdata = String::new();
    let mut saw_cdata = false;
    let mut text_is_ws = true;
    loop {
        match p.next()? {
            Ev::Text(t) => {
                if text_is_ws && !crate::xml::is_ws(&t) {
                    text_is_ws = false;
                }
                text.push_str(&t);
            }
            Ev::CData(c) => {
                saw_cdata = true;
                text.push_str(&c);
                cdata.push_str(&c);
            }
            Ev::Ref(c) => {
                text.push(c);
                cdata.push(c);
            }
            Ev::End => {
                return Ok(if saw_cdata && text_is_ws {
                    Data::raw(cdata, DataForm::CData)
                } else {
                    Data::raw(text, DataForm::Text)
                });
            }
            ev @ (Ev::Start(_) | Ev::Empty(_)) => {
                let mut level = usize::from(matches!(ev, Ev::Start(_)));
                loop {
                    match p.next()? {
                        Ev::Start(_) => level += 1,
                        Ev::End => {
                            if level == 0 {
                                let raw = p.slice(content_start, p.last_start);
                                return Ok(Data::raw(raw.to_owned(), DataForm::Xml));
                            }
                            level -= 1;
                        }
                        Ev::Eof => return Err(p.err(ReadErrorKind::Truncated)),
                        _ => {}
                    }
                }
            }
            Ev::Eof => return Err(p.err(ReadErrorKind::Truncated)),
        }
    }
}
