//! HTTP/1.1 message framing for the router's proxy loop ([`super::h1`]), by RFC 9112: how long a
//! request's or a response's body is (§6.1–6.3), chunked bodies read (§7.1) and written again in
//! canonical form (so a dyno never sees framing the router read differently: no request
//! smuggling), and the header fields that belong to one hop (RFC 9110 §7.6.1). Heads themselves
//! are parsed by `httparse`; only what it leaves to its callers is here.

/// The most header fields a request or response head may have (nginx and hyper allow 100).
pub const MAX_HEADERS: usize = 100;

/// Headers that belong to one hop and are not forwarded (RFC 9110 §7.6.1), lowercase, besides
/// those the `Connection` field names.
pub const HOP_BY_HOP: [&str; 7] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Whether a header field named `name` belongs to one hop by its name alone.
pub fn is_hop_by_hop(name: &str) -> bool {
    HOP_BY_HOP.iter().any(|h| h.eq_ignore_ascii_case(name))
}

/// How a message's body is delimited (RFC 9112 §6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// No body.
    Empty,
    /// `Content-Length` bytes.
    Length(u64),
    /// Chunked transfer coding.
    Chunked,
    /// Until the connection closes (a response's only).
    Close,
}

/// A head whose framing cannot be read; the text says why (for a 400 or 502 page's log line).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Malformed(pub &'static str);

/// A transfer coding the router does not decode (answered 501, RFC 9112 §6.1).
pub const OTHER_CODING: Malformed = Malformed("a transfer coding other than chunked");

/// What a request's or response's `Connection` fields say (RFC 9110 §7.6.1): `close`,
/// `keep-alive`, `upgrade`, and the other header names they list (hop-by-hop too).
#[derive(Debug, Default)]
pub struct ConnectionOptions<'a> {
    pub close: bool,
    pub keep_alive: bool,
    pub upgrade: bool,
    named: Vec<&'a str>,
}

impl<'a> ConnectionOptions<'a> {
    pub fn of(headers: &[httparse::Header<'a>]) -> Self {
        let mut options = ConnectionOptions::default();
        for header in headers {
            if !header.name.eq_ignore_ascii_case("connection") {
                continue;
            }
            let Ok(value) = std::str::from_utf8(header.value) else {
                continue;
            };
            for token in value.split(',').map(str::trim) {
                if token.eq_ignore_ascii_case("close") {
                    options.close = true;
                } else if token.eq_ignore_ascii_case("keep-alive") {
                    options.keep_alive = true;
                } else if token.eq_ignore_ascii_case("upgrade") {
                    options.upgrade = true;
                } else if !token.is_empty() {
                    options.named.push(token);
                }
            }
        }
        options
    }

    /// Whether the header field `name` is for this hop only: by its name, or named here.
    pub fn drops(&self, name: &str) -> bool {
        is_hop_by_hop(name) || self.named.iter().any(|n| n.eq_ignore_ascii_case(name))
    }
}

/// The comma-separated elements of every field named `name`, trimmed.
fn elements<'a>(
    headers: &'a [httparse::Header<'a>],
    name: &'static str,
) -> impl Iterator<Item = &'a [u8]> + 'a {
    headers
        .iter()
        .filter(move |h| h.name.eq_ignore_ascii_case(name))
        .flat_map(|h| h.value.split(|b| *b == b','))
        .map(<[u8]>::trim_ascii)
}

/// The one length all `Content-Length` fields agree on (a list of equal values is one value, RFC
/// 9110 §8.6), `None` without any.
pub fn content_length(headers: &[httparse::Header]) -> Result<Option<u64>, Malformed> {
    let mut length = None;
    for element in elements(headers, "content-length") {
        if element.is_empty() || element.len() > 19 || !element.iter().all(u8::is_ascii_digit) {
            return Err(Malformed("an invalid Content-Length"));
        }
        let value = element
            .iter()
            .fold(0u64, |n, digit| n * 10 + u64::from(digit - b'0'));
        if length.is_some_and(|l| l != value) {
            return Err(Malformed("Content-Length fields that disagree"));
        }
        length = Some(value);
    }
    Ok(length)
}

/// Whether the message has `Transfer-Encoding: chunked` and nothing else (`Ok(false)` without
/// the field). Any other coding is refused: the router does not decode them.
fn chunked(headers: &[httparse::Header]) -> Result<bool, Malformed> {
    let mut codings = elements(headers, "transfer-encoding").peekable();
    if codings.peek().is_none() {
        return Ok(false);
    }
    let mut seen = false;
    for coding in codings {
        if coding.is_empty() {
            return Err(Malformed("an empty transfer coding"));
        }
        if !coding.eq_ignore_ascii_case(b"chunked") {
            return Err(OTHER_CODING);
        }
        // Chunked applied twice (RFC 9112 §6.1: a sender MUST NOT): a malformed message.
        if seen {
            return Err(Malformed("chunked applied more than once"));
        }
        seen = true;
    }
    Ok(true)
}

/// How a request's body is delimited (RFC 9112 §6.1, §6.3). Stricter than the RFC where it
/// allows a choice, against request smuggling (as nginx and hyper are): both `Content-Length`
/// and `Transfer-Encoding`, or `Transfer-Encoding` in HTTP/1.0, are refused.
pub fn request_framing(headers: &[httparse::Header], http10: bool) -> Result<Framing, Malformed> {
    let length = content_length(headers)?;
    if chunked(headers)? {
        if length.is_some() {
            return Err(Malformed("both Content-Length and Transfer-Encoding"));
        }
        if http10 {
            return Err(Malformed("Transfer-Encoding in an HTTP/1.0 request"));
        }
        return Ok(Framing::Chunked);
    }
    Ok(match length {
        None | Some(0) => Framing::Empty,
        Some(length) => Framing::Length(length),
    })
}

/// How a response to a request (`head`: a HEAD one) is delimited (RFC 9112 §6.3).
pub fn response_framing(
    status: u16,
    head: bool,
    headers: &[httparse::Header],
) -> Result<Framing, Malformed> {
    if head || status < 200 || status == 204 || status == 304 {
        return Ok(Framing::Empty);
    }
    if chunked(headers)? {
        return Ok(Framing::Chunked);
    }
    Ok(match content_length(headers)? {
        Some(0) => Framing::Empty,
        Some(length) => Framing::Length(length),
        None => Framing::Close,
    })
}

/// The most bytes of trailer fields a chunked body may end with (they are read and dropped).
const MAX_TRAILERS: usize = 16 * 1024;
/// The longest chunk-size line (with its extensions, which are dropped).
const MAX_CHUNK_LINE: usize = 4096;

/// What [`BodyReader::step`] found in its input.
#[derive(Debug, PartialEq, Eq)]
pub enum Piece<'a> {
    /// Body bytes to pass on.
    Data(&'a [u8]),
    /// The input ends before the body does: read more.
    More,
    /// The body is complete.
    Done,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chunk {
    Size,
    Data(u64),
    DataEnd,
    Trailers(usize),
}

/// Reads one message body of a given [`Framing`] out of the bytes of a connection as they come.
#[derive(Debug, Clone)]
pub struct BodyReader {
    framing: Framing,
    /// Bytes left of a `Length` body.
    left: u64,
    chunk: Chunk,
    done: bool,
}

impl BodyReader {
    pub fn new(framing: Framing) -> Self {
        BodyReader {
            framing,
            left: match framing {
                Framing::Length(length) => length,
                _ => 0,
            },
            chunk: Chunk::Size,
            done: matches!(framing, Framing::Empty | Framing::Length(0)),
        }
    }

    pub fn is_done(&self) -> bool {
        self.done
    }

    pub fn framing(&self) -> Framing {
        self.framing
    }

    /// Whether the rest of the body is all in `input` (read already), which this reader is not
    /// moved over.
    pub fn ends_within(&self, input: &[u8]) -> bool {
        let mut reader = self.clone();
        let mut at = 0;
        loop {
            match reader.step(&input[at..], false) {
                Ok((_, Piece::Done)) => return true,
                Ok((used, Piece::Data(_))) => at += used,
                Ok((_, Piece::More)) | Err(_) => return false,
            }
        }
    }

    /// Steps over `input` (what was read and not yet used; `eof` when the connection sent all it
    /// will): how many of its bytes were used, and what they held. A `Close` body ends at `eof`;
    /// any other ending there is an error.
    pub fn step<'a>(
        &mut self,
        input: &'a [u8],
        eof: bool,
    ) -> Result<(usize, Piece<'a>), Malformed> {
        if self.done {
            return Ok((0, Piece::Done));
        }
        match self.framing {
            Framing::Empty => Ok((0, Piece::Done)),
            Framing::Length(_) => {
                if input.is_empty() {
                    return if eof {
                        Err(Malformed("the body ended before its Content-Length"))
                    } else {
                        Ok((0, Piece::More))
                    };
                }
                let n = usize::try_from(self.left).map_or(input.len(), |l| l.min(input.len()));
                self.left -= n as u64;
                self.done = self.left == 0;
                Ok((n, Piece::Data(&input[..n])))
            }
            Framing::Close => {
                if input.is_empty() {
                    self.done = eof;
                    return Ok((0, if eof { Piece::Done } else { Piece::More }));
                }
                Ok((input.len(), Piece::Data(input)))
            }
            Framing::Chunked => {
                let (used, piece) = self.step_chunked(input)?;
                if piece == Piece::More && eof {
                    return Err(Malformed("the chunked body ended early"));
                }
                Ok((used, piece))
            }
        }
    }

    fn step_chunked<'a>(&mut self, input: &'a [u8]) -> Result<(usize, Piece<'a>), Malformed> {
        let mut used = 0;
        loop {
            let rest = &input[used..];
            match self.chunk {
                Chunk::Size => {
                    let Some(first) = rest.first() else {
                        return Ok((used, Piece::More));
                    };
                    if !first.is_ascii_hexdigit() {
                        return Err(Malformed("an invalid chunk size"));
                    }
                    match httparse::parse_chunk_size(rest) {
                        // httparse passes over any byte of an extension; one another parser
                        // would read otherwise (a bare LF above all) is refused.
                        Ok(httparse::Status::Complete((n, _)))
                            if !is_chunk_line(&rest[..n - 2]) =>
                        {
                            return Err(Malformed("a malformed chunk extension"));
                        }
                        Ok(httparse::Status::Complete((n, size))) => {
                            used += n;
                            self.chunk = if size == 0 {
                                Chunk::Trailers(0)
                            } else {
                                Chunk::Data(size)
                            };
                        }
                        Ok(httparse::Status::Partial)
                            if rest.len() <= MAX_CHUNK_LINE
                                && is_line(rest.strip_suffix(b"\r").unwrap_or(rest)) =>
                        {
                            return Ok((used, Piece::More));
                        }
                        _ => return Err(Malformed("an invalid chunk size")),
                    }
                }
                Chunk::Data(left) => {
                    if rest.is_empty() {
                        return Ok((used, Piece::More));
                    }
                    let n = usize::try_from(left).map_or(rest.len(), |l| l.min(rest.len()));
                    let left = left - n as u64;
                    self.chunk = if left == 0 {
                        Chunk::DataEnd
                    } else {
                        Chunk::Data(left)
                    };
                    return Ok((used + n, Piece::Data(&rest[..n])));
                }
                Chunk::DataEnd => match rest {
                    [b'\r', b'\n', ..] => {
                        used += 2;
                        self.chunk = Chunk::Size;
                    }
                    [] | [b'\r'] => return Ok((used, Piece::More)),
                    _ => return Err(Malformed("a chunk longer than its size")),
                },
                Chunk::Trailers(seen) => {
                    let Some(end) = rest.windows(2).position(|w| w == b"\r\n") else {
                        if seen + rest.len() > MAX_TRAILERS {
                            return Err(Malformed("trailer fields too large"));
                        }
                        return Ok((used, Piece::More));
                    };
                    used += end + 2;
                    if end == 0 {
                        self.done = true;
                        return Ok((used, Piece::Done));
                    }
                    if seen + end + 2 > MAX_TRAILERS {
                        return Err(Malformed("trailer fields too large"));
                    }
                    if !is_field_line(&rest[..end]) {
                        return Err(Malformed("a malformed trailer field"));
                    }
                    self.chunk = Chunk::Trailers(seen + end + 2);
                }
            }
        }
    }
}

/// Whether `line` (without its CRLF) holds no control character but HTAB (RFC 9110 §5.5: a field
/// value's and a chunk extension's bytes are visible, SP, HTAB or obs-text).
fn is_line(line: &[u8]) -> bool {
    line.iter()
        .all(|&b| b == b'\t' || (b' '..=b'~').contains(&b) || b >= 0x80)
}

/// Whether `line` (without its CRLF) is a chunk's size line: hex digits, then extensions
/// `*( BWS ";" BWS name [ BWS "=" BWS ( token / quoted-string ) ] )` (RFC 9112 §7.1.1).
fn is_chunk_line(line: &[u8]) -> bool {
    let digits = line.iter().take_while(|b| b.is_ascii_hexdigit()).count();
    let mut rest = &line[digits..];
    let blank = |rest: &mut &[u8]| {
        while let [b' ' | b'\t', tail @ ..] = *rest {
            *rest = tail;
        }
    };
    let token = |rest: &mut &[u8]| {
        let n = rest.iter().take_while(|&&b| is_token(b)).count();
        *rest = &rest[n..];
        n > 0
    };
    while !rest.is_empty() {
        blank(&mut rest);
        let [b';', tail @ ..] = rest else {
            return false;
        };
        rest = tail;
        blank(&mut rest);
        if !token(&mut rest) {
            return false;
        }
        blank(&mut rest);
        let [b'=', tail @ ..] = rest else {
            continue;
        };
        rest = tail;
        blank(&mut rest);
        if let [b'"', tail @ ..] = rest {
            // A quoted string: qdtext or quoted pairs, to the closing quote.
            rest = tail;
            loop {
                match rest {
                    [b'"', tail @ ..] => {
                        rest = tail;
                        break;
                    }
                    [b'\\', b, tail @ ..] if is_line(&[*b]) => rest = tail,
                    [b, tail @ ..] if *b != b'\\' && is_line(&[*b]) => rest = tail,
                    _ => return false,
                }
            }
        } else if !token(&mut rest) {
            return false;
        }
    }
    true
}

/// Whether `line` is a field line (RFC 9112 §5): a token, a colon, then a value.
fn is_field_line(line: &[u8]) -> bool {
    let Some(colon) = line.iter().position(|&b| b == b':') else {
        return false;
    };
    let (name, value) = (&line[..colon], &line[colon + 1..]);
    !name.is_empty() && name.iter().all(|&b| is_token(b)) && is_line(value)
}

/// Whether `b` may be in a token (RFC 9110 §5.6.2).
fn is_token(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Appends `data` to `out` as one chunk (RFC 9112 §7.1), or as it is when not `chunked`.
pub fn put_data(out: &mut Vec<u8>, data: &[u8], chunked: bool) {
    if data.is_empty() {
        return;
    }
    if chunked {
        use std::io::Write;
        let _ = write!(out, "{:x}\r\n", data.len());
        out.extend_from_slice(data);
        out.extend_from_slice(b"\r\n");
    } else {
        out.extend_from_slice(data);
    }
}

/// Appends the last chunk (with no trailer fields) when `chunked`.
pub fn put_end(out: &mut Vec<u8>, chunked: bool) {
    if chunked {
        out.extend_from_slice(b"0\r\n\r\n");
    }
}

/// Appends a `Content-Length` field.
pub fn put_length(out: &mut Vec<u8>, length: u64) {
    use std::io::Write;
    let _ = write!(out, "content-length: {length}\r\n");
}

/// Whether a list field's value has no element (RFC 9110 §5.6.1: empty elements, commas and
/// whitespace alone, are ignored): `X-Forwarded-For: ,` adds nothing.
pub fn is_empty_list(value: &[u8]) -> bool {
    value.iter().all(|b| matches!(b, b',' | b' ' | b'\t'))
}

/// Appends the value of the `Forwarded` field (RFC 7239) the dyno gets for a client that sent
/// `previous` ones: each of those whose quoted strings all end ([`quotes_closed`]), then the
/// router's element ([`forwarded_element`]), so that the last one, which an app that trusts the
/// router reads, is the router's. Called only when the client sent one: without, the router adds
/// none (X-Forwarded-For says the same).
pub fn put_forwarded<'a>(
    out: &mut Vec<u8>,
    previous: impl Iterator<Item = &'a [u8]>,
    peer: std::net::IpAddr,
    https: bool,
) {
    for value in previous.filter(|v| quotes_closed(v)) {
        out.extend_from_slice(value);
        out.extend_from_slice(b", ");
    }
    out.extend_from_slice(forwarded_element(peer, https).as_bytes());
}

/// The router's element of a `Forwarded` field (RFC 7239 §4): `for=203.0.113.7;proto=https`, an
/// IPv6 address quoted in brackets (`for="[2001:db8::7]"`, §6).
fn forwarded_element(peer: std::net::IpAddr, https: bool) -> String {
    let proto = if https { "https" } else { "http" };
    match peer {
        std::net::IpAddr::V4(ip) => format!("for={ip};proto={proto}"),
        std::net::IpAddr::V6(ip) => format!("for=\"[{ip}]\";proto={proto}"),
    }
}

/// Whether every quoted string of a `Forwarded` value ends (RFC 7239 §4; RFC 9110 §5.6.4: `\`
/// escapes the next character in one). A client's value with one left open would swallow the
/// router's element appended after it: such a value is dropped.
fn quotes_closed(value: &[u8]) -> bool {
    let (mut quoted, mut escaped) = (false, false);
    for &b in value {
        if escaped {
            escaped = false;
        } else if quoted && b == b'\\' {
            escaped = true;
        } else if b == b'"' {
            quoted = !quoted;
        }
    }
    !quoted
}

/// The fields the router sets (or checks) on every request it forwards.
const SET_BY_THE_ROUTER: [&str; 5] = [
    "x-forwarded-for",
    "x-forwarded-proto",
    "x-forwarded-port",
    "x-request-start",
    "x-request-id",
];

/// Whether a client's field `name` spells one the router sets with underscores for dashes
/// (`X_Forwarded_For`): CGI-style servers (WSGI, Rack, PHP, busybox httpd) turn both into the
/// same `HTTP_X_FORWARDED_FOR`, so the client's value could pass for the router's. Such fields
/// are dropped, as nginx drops every name with an underscore (`underscores_in_headers off`);
/// other names with underscores pass, as on Heroku.
pub fn imitates_router_field(name: &str) -> bool {
    name.contains('_')
        && SET_BY_THE_ROUTER.iter().any(|set| {
            set.len() == name.len()
                && set
                    .bytes()
                    .zip(name.bytes())
                    .all(|(s, n)| s == n.to_ascii_lowercase() || (s == b'-' && n == b'_'))
        })
}

/// Appends a header line `name: value`.
pub fn put_header(out: &mut Vec<u8>, name: &str, value: &[u8]) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwarded_values_with_an_open_quote_are_told() {
        for closed in [
            &b"for=1.2.3.4"[..],
            b"for=\"[::1]\";proto=https",
            b"x=\"a\\\"b\", for=1",
        ] {
            assert!(quotes_closed(closed), "{}", String::from_utf8_lossy(closed));
        }
        for open in [&b"for=\"1.2.3.4"[..], b"x=\"", b"x=\"a\\\""] {
            assert!(!quotes_closed(open), "{}", String::from_utf8_lossy(open));
        }
    }

    #[test]
    fn the_router_s_forwarded_element() {
        let ip = |s: &str| s.parse().expect("an address");
        assert_eq!(
            forwarded_element(ip("203.0.113.7"), true),
            "for=203.0.113.7;proto=https"
        );
        assert_eq!(
            forwarded_element(ip("2001:db8::7"), false),
            "for=\"[2001:db8::7]\";proto=http"
        );
    }

    #[test]
    fn underscore_spellings_of_the_router_s_fields_are_told_apart() {
        for name in [
            "X_Forwarded_For",
            "x_forwarded-proto",
            "X-FORWARDED_PORT",
            "x_request_start",
            "X_Request_Id",
        ] {
            assert!(imitates_router_field(name), "{name}");
        }
        for name in [
            "X-Forwarded-For",
            "x-request-start",
            "X_Custom_Thing",
            "X_Forwarded_Forx",
            "x_forwarded",
        ] {
            assert!(!imitates_router_field(name), "{name}");
        }
    }

    fn headers(lines: &[(&'static str, &'static str)]) -> Vec<httparse::Header<'static>> {
        lines
            .iter()
            .map(|(name, value)| httparse::Header {
                name,
                value: value.as_bytes(),
            })
            .collect()
    }

    /// The body's bytes, fed `at_a_time` bytes at a time, re-chunked when `chunked`.
    fn read_all(
        framing: Framing,
        input: &[u8],
        at_a_time: usize,
        eof: bool,
    ) -> Result<(Vec<u8>, usize), Malformed> {
        let mut reader = BodyReader::new(framing);
        let mut body = Vec::new();
        let (mut buffered, mut fed) = (Vec::new(), 0);
        loop {
            let (used, piece) = {
                let at_end = fed == input.len();
                let (used, piece) = reader.step(&buffered, at_end && eof)?;
                let piece = match piece {
                    Piece::Data(data) => {
                        body.extend_from_slice(data);
                        None
                    }
                    Piece::More if at_end => return Err(Malformed("stuck")),
                    Piece::More => Some(false),
                    Piece::Done => Some(true),
                };
                (used, piece)
            };
            buffered.drain(..used);
            match piece {
                Some(true) => return Ok((body, buffered.len() + input.len() - fed)),
                Some(false) => {
                    let next = (fed + at_a_time).min(input.len());
                    buffered.extend_from_slice(&input[fed..next]);
                    fed = next;
                }
                None => {}
            }
        }
    }

    #[test]
    fn request_framing_refuses_what_could_be_smuggled() {
        let framing = |lines, http10| request_framing(&headers(lines), http10);
        assert_eq!(framing(&[], false), Ok(Framing::Empty));
        assert_eq!(
            framing(&[("Content-Length", "12")], false),
            Ok(Framing::Length(12))
        );
        assert_eq!(
            framing(
                &[("content-length", "5, 5"), ("Content-Length", "5")],
                false
            ),
            Ok(Framing::Length(5))
        );
        assert_eq!(
            framing(&[("Transfer-Encoding", "Chunked")], false),
            Ok(Framing::Chunked)
        );
        for refused in [
            &[("Content-Length", "5"), ("Content-Length", "6")][..],
            &[("Content-Length", "+5")],
            &[("Content-Length", "")],
            &[("Content-Length", "99999999999999999999")],
            &[("Transfer-Encoding", "chunked"), ("Content-Length", "5")],
            &[("Transfer-Encoding", "gzip, chunked")],
            &[
                ("Transfer-Encoding", "chunked"),
                ("Transfer-Encoding", "chunked"),
            ],
            &[("Transfer-Encoding", "")],
        ] {
            assert!(framing(refused, false).is_err(), "{refused:?}");
        }
        // Only a coding the router does not know is 501; chunked twice is malformed (400).
        assert_ne!(
            framing(&[("Transfer-Encoding", "chunked, chunked")], false),
            Err(OTHER_CODING)
        );
        assert!(framing(&[("Transfer-Encoding", "chunked")], true).is_err());
    }

    #[test]
    fn response_framing_follows_the_status_and_the_request() {
        let cl = headers(&[("Content-Length", "3")]);
        assert_eq!(response_framing(200, false, &cl), Ok(Framing::Length(3)));
        assert_eq!(response_framing(200, true, &cl), Ok(Framing::Empty));
        assert_eq!(response_framing(304, false, &cl), Ok(Framing::Empty));
        assert_eq!(response_framing(204, false, &[]), Ok(Framing::Empty));
        assert_eq!(response_framing(200, false, &[]), Ok(Framing::Close));
        let te = headers(&[("Transfer-Encoding", "chunked"), ("Content-Length", "3")]);
        assert_eq!(response_framing(200, false, &te), Ok(Framing::Chunked));
    }

    #[test]
    fn chunked_bodies_are_read_whole_in_any_slices() {
        let input =
            b"5;ext=1 ; q=\"a \\\"b\\\"\";flag\r\nhello\r\n1A\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\nTrailer: x\r\n\r\nNEXT";
        for at_a_time in [1, 2, 3, 7, 100] {
            let (body, left) = read_all(Framing::Chunked, input, at_a_time, false)
                .unwrap_or_else(|e| panic!("{at_a_time}: {e:?}"));
            assert_eq!(body, b"helloabcdefghijklmnopqrstuvwxyz");
            assert_eq!(left, 4, "the next message's bytes are not the body's");
        }
        for bad in [
            &b"5\r\nhelloX\r\n0\r\n\r\n"[..],
            b"\r\n",
            b"zz\r\n",
            b"5\nhello\r\n0\r\n\r\n",
            b"5;a\nb\r\nhello\r\n0\r\n\r\n",
            b"5;a\nb",
            b"5;a\x00b\r\nhello\r\n0\r\n\r\n",
            b"5;foo=\"bar\r\nhello\r\n0\r\n\r\n",
            b"5;=bar\r\nhello\r\n0\r\n\r\n",
            b"5;\r\nhello\r\n0\r\n\r\n",
            b"5 \r\nhello\r\n0\r\n\r\n",
            b"5\r\nhello\r\n0\r\nno colon here\r\n\r\n",
            b"5\r\nhello\r\n0\r\n: no name\r\n\r\n",
            b"5\r\nhello\r\n0\r\nA: b\nc\r\n\r\n",
        ] {
            assert!(
                read_all(Framing::Chunked, bad, 100, true).is_err(),
                "{bad:?}"
            );
        }
        assert!(read_all(Framing::Chunked, b"5\r\nhel", 100, true).is_err());
    }

    #[test]
    fn a_body_read_already_is_known_to_end_within_it() {
        let chunked = BodyReader::new(Framing::Chunked);
        assert!(chunked.ends_within(b"3\r\nabc\r\n0\r\n\r\nGET / HTTP/1.1"));
        assert!(!chunked.ends_within(b"3\r\nabc\r\n0\r\n"));
        assert!(!chunked.ends_within(b"3\r\nab"));
        let length = BodyReader::new(Framing::Length(4));
        assert!(length.ends_within(b"abcdef") && !length.ends_within(b"abc"));
        assert!(BodyReader::new(Framing::Empty).ends_within(b""));
        assert!(!BodyReader::new(Framing::Close).ends_within(b"all"));
    }

    #[test]
    fn length_and_close_bodies_end_where_they_say() {
        let (body, left) = read_all(Framing::Length(3), b"abcdef", 2, false).expect("length");
        assert_eq!((body.as_slice(), left), (&b"abc"[..], 3));
        assert!(read_all(Framing::Length(9), b"abc", 2, true).is_err());
        let (body, _) = read_all(Framing::Close, b"all of it", 4, true).expect("close");
        assert_eq!(body, b"all of it");
    }

    #[test]
    fn chunks_are_written_canonically() {
        let mut out = Vec::new();
        put_data(&mut out, b"hello world, hello world!", true);
        put_data(&mut out, b"", true);
        put_end(&mut out, true);
        assert_eq!(out, b"19\r\nhello world, hello world!\r\n0\r\n\r\n");
    }

    #[test]
    fn connection_names_its_hop_by_hop_fields() {
        let lines = headers(&[("Connection", "keep-alive, X-Secret , Upgrade")]);
        let options = ConnectionOptions::of(&lines);
        assert!(options.keep_alive && options.upgrade && !options.close);
        assert!(options.drops("x-secret") && options.drops("TE") && !options.drops("x-other"));
    }
}
