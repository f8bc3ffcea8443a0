//! Writing SyncML: a [`SyncMl`] to the XML Windows accepts.
//!
//! Output is compact (no indentation), with `Meta` children in the
//! `syncml:metinf` namespace. Text is always escaped; carriage returns are
//! written as `&#13;` so that XML end-of-line handling cannot change a
//! value.

use super::model::*;

/// The namespace of the root element.
pub const SYNCML_NS: &str = "SYNCML:SYNCML1.2";
/// The namespace of `Meta` children.
pub const METINF_NS: &str = "syncml:metinf";

impl SyncMl {
    /// The message as XML.
    pub fn to_xml(&self) -> String {
        let mut out = String::with_capacity(512 + self.commands.len() * 256);
        self.write_into(&mut out);
        out
    }

    /// Appends the message to `out`.
    pub fn write_into(&self, out: &mut String) {
        out.push_str("<SyncML xmlns=\"");
        out.push_str(SYNCML_NS);
        out.push_str("\">");
        write_header(out, &self.header);
        out.push_str("<SyncBody>");
        for c in &self.commands {
            c.write_into(out);
        }
        if self.final_ {
            out.push_str("<Final/>");
        }
        out.push_str("</SyncBody></SyncML>");
    }
}

impl Command {
    /// The command as an XML fragment.
    pub fn to_xml(&self) -> String {
        let mut out = String::new();
        self.write_into(&mut out);
        out
    }

    /// Appends the command to `out`.
    pub fn write_into(&self, out: &mut String) {
        let name = self.name();
        open(out, name);
        match self {
            Command::Add(c)
            | Command::Replace(c)
            | Command::Delete(c)
            | Command::Get(c)
            | Command::Copy(c)
            | Command::Exec(c) => {
                opt_leaf(out, "CmdID", c.cmd_id.as_ref().map(CmdId::as_str));
                if c.no_resp {
                    out.push_str("<NoResp/>");
                }
                if let Some(cred) = &c.cred {
                    write_cred(out, cred);
                }
                if let Some(m) = &c.meta {
                    write_meta(out, "Meta", m);
                }
                opt_leaf(out, "Correlator", c.correlator.as_deref());
                for it in &c.items {
                    write_item(out, it);
                }
            }
            Command::Alert(a) => {
                opt_leaf(out, "CmdID", a.cmd_id.as_ref().map(CmdId::as_str));
                if a.no_resp {
                    out.push_str("<NoResp/>");
                }
                if let Some(cred) = &a.cred {
                    write_cred(out, cred);
                }
                opt_leaf(out, "Correlator", a.correlator.as_deref());
                number_leaf(out, "Data", a.code.code());
                for it in &a.items {
                    write_item(out, it);
                }
            }
            Command::Atomic(c) | Command::Sequence(c) => {
                opt_leaf(out, "CmdID", c.cmd_id.as_ref().map(CmdId::as_str));
                if c.no_resp {
                    out.push_str("<NoResp/>");
                }
                if let Some(m) = &c.meta {
                    write_meta(out, "Meta", m);
                }
                for child in &c.commands {
                    child.write_into(out);
                }
            }
            Command::Status(s) => {
                opt_leaf(out, "CmdID", s.cmd_id.as_ref().map(CmdId::as_str));
                leaf(out, "MsgRef", s.msg_ref.as_str());
                leaf(out, "CmdRef", s.cmd_ref.as_ref().map_or("", CmdId::as_str));
                leaf(out, "Cmd", &s.cmd);
                for r in &s.target_refs {
                    leaf(out, "TargetRef", r);
                }
                for r in &s.source_refs {
                    leaf(out, "SourceRef", r);
                }
                if let Some(cred) = &s.cred {
                    write_cred(out, cred);
                }
                if let Some(ch) = &s.chal {
                    out.push_str("<Chal>");
                    write_meta(out, "Meta", ch);
                    out.push_str("</Chal>");
                }
                number_leaf(out, "Data", s.code.code());
                for it in &s.items {
                    write_item(out, it);
                }
            }
            Command::Results(r) => {
                opt_leaf(out, "CmdID", r.cmd_id.as_ref().map(CmdId::as_str));
                opt_leaf(out, "MsgRef", r.msg_ref.as_ref().map(MsgId::as_str));
                opt_leaf(out, "CmdRef", r.cmd_ref.as_ref().map(CmdId::as_str));
                if let Some(m) = &r.meta {
                    write_meta(out, "Meta", m);
                }
                for t in &r.target_refs {
                    leaf(out, "TargetRef", t);
                }
                for t in &r.source_refs {
                    leaf(out, "SourceRef", t);
                }
                for it in &r.items {
                    write_item(out, it);
                }
            }
        }
        close(out, name);
    }
}

fn open(out: &mut String, name: &str) {
    out.push('<');
    out.push_str(name);
    out.push('>');
}

fn close(out: &mut String, name: &str) {
    out.push_str("</");
    out.push_str(name);
    out.push('>');
}

fn leaf(out: &mut String, name: &str, text: &str) {
    open(out, name);
    escape_into(out, text);
    close(out, name);
}

fn opt_leaf(out: &mut String, name: &str, text: Option<&str>) {
    if let Some(t) = text {
        leaf(out, name, t);
    }
}

fn number_leaf(out: &mut String, name: &str, n: u16) {
    use std::fmt::Write;
    open(out, name);
    let _ = write!(out, "{n}");
    close(out, name);
}

fn write_header(out: &mut String, h: &SyncHdr) {
    out.push_str("<SyncHdr>");
    leaf(out, "VerDTD", &h.ver_dtd);
    leaf(out, "VerProto", &h.ver_proto);
    leaf(out, "SessionID", h.session_id.as_str());
    leaf(out, "MsgID", h.msg_id.as_str());
    write_location(out, "Target", &h.target);
    write_location(out, "Source", &h.source);
    opt_leaf(out, "RespURI", h.resp_uri.as_deref());
    if h.no_resp {
        out.push_str("<NoResp/>");
    }
    if let Some(c) = &h.cred {
        write_cred(out, c);
    }
    if let Some(m) = &h.meta {
        write_meta(out, "Meta", m);
    }
    out.push_str("</SyncHdr>");
}

fn write_location(out: &mut String, name: &str, l: &Location) {
    open(out, name);
    leaf(out, "LocURI", l.loc_uri.as_str());
    opt_leaf(out, "LocName", l.loc_name.as_deref());
    close(out, name);
}

fn write_cred(out: &mut String, c: &Cred) {
    out.push_str("<Cred>");
    if let Some(m) = &c.meta {
        write_meta(out, "Meta", m);
    }
    write_data(out, &c.data);
    out.push_str("</Cred>");
}

fn metinf(out: &mut String, name: &str, value: &str) {
    out.push('<');
    out.push_str(name);
    out.push_str(" xmlns=\"");
    out.push_str(METINF_NS);
    out.push_str("\">");
    escape_into(out, value);
    close(out, name);
}

fn write_meta(out: &mut String, name: &str, m: &Meta) {
    open(out, name);
    if let Some(f) = &m.format {
        metinf(out, "Format", f.as_str());
    }
    let fields = [
        ("Type", &m.type_),
        ("Mark", &m.mark),
        ("Size", &m.size),
        ("Version", &m.version),
        ("NextNonce", &m.next_nonce),
        ("MaxMsgSize", &m.max_msg_size),
        ("MaxObjSize", &m.max_obj_size),
    ];
    for (n, v) in fields {
        if let Some(v) = v {
            metinf(out, n, v);
        }
    }
    for (n, v) in &m.extra {
        if is_name(n) {
            metinf(out, n, v);
        }
    }
    close(out, name);
}

/// Whether `n` can be written as an element name as it is.
pub(crate) fn is_name(n: &str) -> bool {
    let mut chars = n.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

fn write_item(out: &mut String, it: &Item) {
    out.push_str("<Item>");
    if let Some(t) = &it.target {
        write_location(out, "Target", t);
    }
    if let Some(s) = &it.source {
        write_location(out, "Source", s);
    }
    if let Some(m) = &it.meta {
        write_meta(out, "Meta", m);
    }
    if let Some(d) = &it.data {
        write_data(out, d);
    }
    if it.more_data {
        out.push_str("<MoreData/>");
    }
    out.push_str("</Item>");
}

fn write_data(out: &mut String, d: &Data) {
    out.push_str("<Data>");
    match d.form() {
        DataForm::Text => escape_into(out, d.as_str()),
        DataForm::Xml => out.push_str(d.as_str()),
        DataForm::CData => write_cdata(out, d.as_str()),
    }
    out.push_str("</Data>");
}

/// Writes `s` as CDATA sections, split so that `]]>` never closes one
/// early, with carriage returns as character references between sections.
fn write_cdata(out: &mut String, s: &str) {
    if s.is_empty() {
        out.push_str("<![CDATA[]]>");
        return;
    }
    let mut rest = s;
    let mut sections = 0usize;
    while !rest.is_empty() {
        if let Some(stripped) = rest.strip_prefix('\r') {
            out.push_str("&#13;");
            rest = stripped;
            continue;
        }
        let end = rest.find('\r').unwrap_or(rest.len());
        let mut chunk = &rest[..end];
        rest = &rest[end..];
        sections += 1;
        out.push_str("<![CDATA[");
        while let Some(i) = chunk.find("]]>") {
            // Close after "]]", reopen before ">".
            out.push_str(&chunk[..i + 2]);
            out.push_str("]]><![CDATA[");
            chunk = &chunk[i + 2..];
        }
        out.push_str(chunk);
        out.push_str("]]>");
    }
    if sections == 0 {
        // Only carriage returns: one section keeps the form readable.
        out.push_str("<![CDATA[]]>");
    }
}

/// Escapes `&`, `<`, `>` and carriage returns.
pub(crate) fn escape_into(out: &mut String, s: &str) {
    let bytes = s.as_bytes();
    let mut last = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let rep = match b {
            b'&' => "&amp;",
            b'<' => "&lt;",
            b'>' => "&gt;",
            b'\r' => "&#13;",
            _ => continue,
        };
        out.push_str(&s[last..i]);
        out.push_str(rep);
        last = i + 1;
    }
    out.push_str(&s[last..]);
}
