//! A small element tree for SOAP envelopes (they are a few kilobytes), read
//! with the same strict pull layer as SyncML, and the writing helpers.

use crate::error::{EnrollmentError, ReadError, ReadErrorKind, cut};
use crate::xml::{Ev, Pull, attr, local};

/// Largest enrollment message read (a CSR and a few context items fit in
/// a few kilobytes).
pub(crate) const MAX_SOAP_BYTES: usize = 1024 * 1024;
const MAX_DEPTH: usize = 32;
const MAX_NODES: usize = 10_000;

/// SOAP 1.2 envelope namespace.
pub const NS_SOAP12: &str = "http://www.w3.org/2003/05/soap-envelope";
/// WS-Addressing namespace.
pub const NS_ADDRESSING: &str = "http://www.w3.org/2005/08/addressing";
/// WS-Security secext namespace.
pub const NS_WSSE: &str =
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd";
/// WS-Security utility namespace.
pub const NS_WSU: &str =
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd";

#[derive(Debug, Clone, Default)]
pub(crate) struct Node {
    pub(crate) name: String,
    pub(crate) attrs: Vec<(String, String)>,
    pub(crate) text: String,
    pub(crate) children: Vec<Node>,
}

impl Node {
    pub(crate) fn child(&self, name: &str) -> Option<&Node> {
        self.children.iter().find(|c| c.name == name)
    }

    pub(crate) fn children_named<'s>(
        &'s self,
        name: &'s str,
    ) -> impl Iterator<Item = &'s Node> + 's {
        self.children.iter().filter(move |c| c.name == name)
    }

    /// Follows a path of child names.
    pub(crate) fn path(&self, path: &[&str]) -> Option<&Node> {
        let mut n = self;
        for p in path {
            n = n.child(p)?;
        }
        Some(n)
    }

    pub(crate) fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub(crate) fn trimmed(&self) -> &str {
        self.text.trim()
    }

    /// The trimmed text of a descendant, `None` when missing or `xsi:nil`.
    pub(crate) fn text_at(&self, path: &[&str]) -> Option<&str> {
        let n = self.path(path)?;
        if n.attr("nil") == Some("true") {
            return None;
        }
        Some(n.trimmed())
    }
}

/// A parsed envelope: its header and the first element of its body.
pub(crate) struct Envelope {
    pub(crate) header: Node,
    pub(crate) body: Node,
}

impl Envelope {
    pub(crate) fn message_id(&self) -> Option<String> {
        self.header
            .child("MessageID")
            .map(|n| n.trimmed().to_owned())
    }
}

pub(crate) fn read_tree(input: &[u8]) -> Result<Node, ReadError> {
    let mut p = Pull::new(input, MAX_SOAP_BYTES, MAX_DEPTH)?;
    let (root, empty) = p.root()?;
    let mut count = 0usize;
    let node = build(&mut p, &root, empty, &mut count)?;
    p.finish()?;
    Ok(node)
}

fn build(
    p: &mut Pull<'_>,
    e: &quick_xml::events::BytesStart<'_>,
    empty: bool,
    count: &mut usize,
) -> Result<Node, ReadError> {
    *count += 1;
    if *count > MAX_NODES {
        return Err(p.err(ReadErrorKind::TooManyItems { max: MAX_NODES }));
    }
    let at = p.last_start;
    let mut node = Node {
        name: local(e).to_owned(),
        ..Node::default()
    };
    for a in e.attributes().flatten() {
        let key: &str = a.key.0;
        if key == "xmlns" || key.starts_with("xmlns:") {
            continue;
        }
        let local_key = key.rsplit(':').next().unwrap_or(key).to_owned();
        if let Some(v) = attr(e, &local_key, at)? {
            node.attrs.push((local_key, v));
        }
    }
    // Surface malformed attributes as errors rather than skipping them.
    for a in e.attributes() {
        if let Err(err) = a {
            return Err(ReadError::new(
                at,
                ReadErrorKind::Syntax(crate::error::XmlSyntaxError(err.to_string())),
            ));
        }
    }
    if empty {
        return Ok(node);
    }
    loop {
        match p.next()? {
            Ev::Start(c) => node.children.push(build(p, &c, false, count)?),
            Ev::Empty(c) => node.children.push(build(p, &c, true, count)?),
            Ev::Text(t) | Ev::CData(t) => node.text.push_str(&t),
            Ev::Ref(c) => node.text.push(c),
            Ev::End => return Ok(node),
            Ev::Eof => return Err(p.err(ReadErrorKind::Truncated)),
        }
    }
}

/// Reads a SOAP envelope.
pub(crate) fn read_envelope(input: &[u8]) -> Result<Envelope, EnrollmentError> {
    let root = read_tree(input)?;
    if !root.name.eq_ignore_ascii_case("Envelope") {
        return Err(EnrollmentError::Read(ReadError::new(
            0,
            ReadErrorKind::UnexpectedRoot {
                found: cut(&root.name),
                expected: "Envelope",
            },
        )));
    }
    let mut header = Node::default();
    let mut body = None;
    for c in root.children {
        if c.name.eq_ignore_ascii_case("Header") {
            header = c;
        } else if c.name.eq_ignore_ascii_case("Body") {
            body = Some(c);
        }
    }
    let body = body.ok_or_else(|| EnrollmentError::Missing {
        path: "Envelope/Body".into(),
    })?;
    let first = body
        .children
        .into_iter()
        .next()
        .ok_or_else(|| EnrollmentError::Missing {
            path: "Envelope/Body/*".into(),
        })?;
    Ok(Envelope {
        header,
        body: first,
    })
}

pub(crate) fn missing(path: &str) -> EnrollmentError {
    EnrollmentError::Missing { path: path.into() }
}

pub(crate) fn expect_body(env: &Envelope, expected: &'static str) -> Result<(), EnrollmentError> {
    if env.body.name != expected {
        return Err(EnrollmentError::WrongMessage {
            found: cut(&env.body.name),
            expected,
        });
    }
    Ok(())
}

/// Escapes text for element content and attribute values.
pub(crate) fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Written as references: in an attribute a literal newline,
            // return or tab reads back as a space (XML's attribute-value
            // normalisation); in text a reference is the same character.
            '\r' => out.push_str("&#13;"),
            '\n' => out.push_str("&#10;"),
            '\t' => out.push_str("&#9;"),
            c => out.push(c),
        }
    }
    out
}

/// Wraps a body in a SOAP 1.2 envelope with an action and, when answering,
/// `RelatesTo`.
pub(crate) fn envelope(
    action: &str,
    relates_to: Option<&str>,
    extra_ns: &str,
    body: &str,
) -> String {
    let mut out = String::with_capacity(body.len() + 512);
    out.push_str("<s:Envelope xmlns:s=\"");
    out.push_str(NS_SOAP12);
    out.push_str("\" xmlns:a=\"");
    out.push_str(NS_ADDRESSING);
    out.push('"');
    out.push_str(extra_ns);
    out.push_str("><s:Header><a:Action s:mustUnderstand=\"1\">");
    out.push_str(&esc(action));
    out.push_str("</a:Action>");
    if let Some(r) = relates_to {
        out.push_str("<a:RelatesTo>");
        out.push_str(&esc(r));
        out.push_str("</a:RelatesTo>");
    }
    out.push_str("</s:Header><s:Body>");
    out.push_str(body);
    out.push_str("</s:Body></s:Envelope>");
    out
}

/// A request envelope as the Windows client writes it (used by the test
/// device): action, message id, reply-to, to, and an optional security
/// header.
pub(crate) fn request_envelope(
    action: &str,
    message_id: &str,
    to: &str,
    security: &str,
    body: &str,
) -> String {
    format!(
        "<s:Envelope xmlns:s=\"{NS_SOAP12}\" xmlns:a=\"{NS_ADDRESSING}\" xmlns:u=\"{NS_WSU}\" \
         xmlns:wsse=\"{NS_WSSE}\" xmlns:wst=\"http://docs.oasis-open.org/ws-sx/ws-trust/200512\" \
         xmlns:ac=\"http://schemas.xmlsoap.org/ws/2006/12/authorization\"><s:Header>\
         <a:Action s:mustUnderstand=\"1\">{}</a:Action><a:MessageID>{}</a:MessageID>\
         <a:ReplyTo><a:Address>http://www.w3.org/2005/08/addressing/anonymous</a:Address></a:ReplyTo>\
         <a:To s:mustUnderstand=\"1\">{}</a:To>{security}</s:Header><s:Body>{body}</s:Body></s:Envelope>",
        esc(action),
        esc(message_id),
        esc(to)
    )
}
