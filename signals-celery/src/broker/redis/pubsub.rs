//! A Redis pub/sub subscription read by a reader of our own over a plain
//! TCP socket.
//!
//! redis-rs reads each message through a general RESP parser into a tree of
//! owned values (an array of four byte vectors), which costs more than the
//! rest of an event's handling on the subscriber's thread. A subscribed
//! connection only ever carries a handful of frame shapes, so this reader
//! parses them in place in one reused buffer, reads as much as the socket
//! holds per system call, and lends each payload out as a slice: no value
//! tree and no copy. A TLS connection is still read through redis-rs.

use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::ops::Range;
use std::time::Duration;

/// The buffer a subscription starts with, and returns to once a larger
/// frame has been read: room for a hundred or so events per read.
const INITIAL_BUFFER: usize = 64 * 1024;

/// The largest frame read: Redis's own limit on a bulk string
/// (`proto-max-bulk-len`, 512 MiB by default) and a little for the rest.
const MAX_FRAME: usize = 512 * 1024 * 1024 + 64 * 1024;

/// The most elements a frame of a subscribed connection has (`pmessage`:
/// kind, pattern, channel, payload); more is not RESP as Redis sends it to
/// a subscriber.
const MAX_ELEMENTS: usize = 4;

/// One frame read from a subscribed connection; the ranges are places in
/// the reader's buffer ([`RawSubscription::bytes`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Frame {
    /// A `message` or `pmessage`: where its payload is.
    Message { payload: Range<usize> },
    /// The reply to a `PING` sent on the subscribed connection.
    Pong,
    /// An error reply: where its text is.
    Error(Range<usize>),
    /// Anything else: a subscription's confirmation, an `OK`.
    Other,
}

impl Frame {
    fn shifted(self, by: usize) -> Self {
        let shift = |range: Range<usize>| range.start + by..range.end + by;
        match self {
            Self::Message { payload } => Self::Message {
                payload: shift(payload),
            },
            Self::Error(text) => Self::Error(shift(text)),
            other => other,
        }
    }
}

/// Bytes that are not RESP2 as Redis sends it to a subscribed connection.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unexpected bytes from Redis on a subscribed connection: {0}")]
pub(crate) struct ProtocolError(&'static str);

/// Parses the frame at the start of `input`: the frame and its length in
/// bytes, or `None` while `input` holds only part of it. Ranges in the
/// frame are relative to `input`.
///
/// A bulk string is skipped by its length, so parsing again from the start
/// after each read of a long frame costs only its header.
pub(crate) fn parse(input: &[u8]) -> Result<Option<(Frame, usize)>, ProtocolError> {
    let Some((&kind, _)) = input.split_first() else {
        return Ok(None);
    };
    let Some((line, mut at)) = line(input, 1)? else {
        return Ok(None);
    };
    match kind {
        b'+' | b':' => return Ok(Some((Frame::Other, at))),
        b'-' => return Ok(Some((Frame::Error(line), at))),
        b'*' => {}
        _ => return Err(ProtocolError("a frame starts with neither +, -, : nor *")),
    }
    let count = integer(&input[line])?;
    if !(1..=8).contains(&count) {
        return Err(ProtocolError("an array of an unexpected length"));
    }
    let mut elements: [Range<usize>; MAX_ELEMENTS] = Default::default();
    for index in 0..count as usize {
        let Some(element) = element(input, &mut at)? else {
            return Ok(None);
        };
        if let Some(slot) = elements.get_mut(index) {
            *slot = element;
        }
    }
    let frame = match (&input[elements[0].clone()], count) {
        (b"pmessage", 4) => Frame::Message {
            payload: elements[3].clone(),
        },
        (b"message", 3) => Frame::Message {
            payload: elements[2].clone(),
        },
        (b"pong", _) => Frame::Pong,
        _ => Frame::Other,
    };
    Ok(Some((frame, at)))
}

/// One element of an array starting at `*at`: a bulk string's bytes, a
/// simple string's or an integer's text; `*at` moves past it. `None` while
/// the input holds only part of it.
fn element(input: &[u8], at: &mut usize) -> Result<Option<Range<usize>>, ProtocolError> {
    let Some(&kind) = input.get(*at) else {
        return Ok(None);
    };
    if !matches!(kind, b'+' | b':' | b'$') {
        return Err(ProtocolError("an array element that is not a string"));
    }
    let Some((line, after)) = line(input, *at + 1)? else {
        return Ok(None);
    };
    if kind != b'$' {
        *at = after;
        return Ok(Some(line));
    }
    let length = integer(&input[line])?;
    if length < 0 {
        // A null bulk string.
        *at = after;
        return Ok(Some(after..after));
    }
    let length = usize::try_from(length)
        .ok()
        .filter(|&length| length <= MAX_FRAME)
        .ok_or(ProtocolError("a bulk string longer than Redis allows"))?;
    let end = after + length;
    match input.get(end..end + 2) {
        None => Ok(None),
        Some(b"\r\n") => {
            *at = end + 2;
            Ok(Some(after..end))
        }
        Some(_) => Err(ProtocolError("a bulk string not followed by CRLF")),
    }
}

/// The line starting at `from`, without its CRLF, and where the next one
/// starts; `None` while the CRLF has not arrived.
fn line(input: &[u8], from: usize) -> Result<Option<(Range<usize>, usize)>, ProtocolError> {
    let Some(newline) = input
        .get(from..)
        .and_then(|rest| memchr::memchr(b'\n', rest))
    else {
        return Ok(None);
    };
    let end = from + newline;
    if newline == 0 || input[end - 1] != b'\r' {
        return Err(ProtocolError("a line that does not end in CRLF"));
    }
    Ok(Some((from..end - 1, end + 1)))
}

/// A RESP integer (an array's or bulk string's length).
fn integer(text: &[u8]) -> Result<i64, ProtocolError> {
    let (negative, digits) = match text.split_first() {
        Some((b'-', digits)) => (true, digits),
        _ => (false, text),
    };
    if digits.is_empty() || digits.len() > 18 {
        return Err(ProtocolError("a length that is not a number"));
    }
    let mut value = 0i64;
    for &digit in digits {
        if !digit.is_ascii_digit() {
            return Err(ProtocolError("a length that is not a number"));
        }
        value = value * 10 + i64::from(digit - b'0');
    }
    Ok(if negative { -value } else { value })
}

/// A command as RESP2 sends it: an array of bulk strings.
fn command(arguments: &[&[u8]]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", arguments.len()).into_bytes();
    for argument in arguments {
        out.extend_from_slice(format!("${}\r\n", argument.len()).as_bytes());
        out.extend_from_slice(argument);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// A TCP connection to the first of `host`'s addresses that answers.
fn connect_tcp(host: &str, port: u16, timeout: Duration) -> io::Result<TcpStream> {
    let mut last = None;
    for address in (host, port).to_socket_addrs()? {
        match TcpStream::connect_timeout(&address, timeout) {
            Ok(socket) => {
                // Only PINGs are written, and each is waited for.
                socket.set_nodelay(true)?;
                return Ok(socket);
            }
            Err(error) => last = Some(error),
        }
    }
    Err(last.unwrap_or_else(|| {
        io::Error::new(io::ErrorKind::NotFound, format!("{host} has no address"))
    }))
}

/// A subscribed connection read by [`parse`].
pub(crate) struct RawSubscription {
    socket: TcpStream,
    /// Always initialized to its full length, so that a read needs no
    /// clearing first; `start..end` is what was read and not yet parsed.
    buffer: Vec<u8>,
    start: usize,
    end: usize,
}

impl RawSubscription {
    /// Connects to the server of `info` (as redis-rs would), authenticates
    /// with its credentials and subscribes to `pattern`, waiting up to
    /// `timeout` for each step. `None` for a server this reader does not
    /// reach (TLS, a Unix socket): the caller reads through redis-rs
    /// instead.
    pub(crate) fn subscribe(
        info: &redis::ConnectionInfo,
        pattern: &str,
        timeout: Duration,
    ) -> Option<Result<Self, String>> {
        let redis::ConnectionAddr::Tcp(host, port) = info.addr() else {
            return None;
        };
        Some(
            connect_tcp(host, *port, timeout)
                .map_err(|error| error.to_string())
                .and_then(|socket| {
                    let mut subscription = Self {
                        socket,
                        buffer: vec![0; INITIAL_BUFFER],
                        start: 0,
                        end: 0,
                    };
                    subscription.handshake(info.redis_settings(), pattern, timeout)?;
                    Ok(subscription)
                }),
        )
    }

    fn handshake(
        &mut self,
        settings: &redis::RedisConnectionInfo,
        pattern: &str,
        timeout: Duration,
    ) -> Result<(), String> {
        let io = |error: io::Error| error.to_string();
        self.set_timeouts(Some(timeout)).map_err(io)?;
        if let Some(password) = settings.password() {
            let auth = match settings.username() {
                Some(username) => command(&[b"AUTH", username.as_bytes(), password.as_bytes()]),
                None => command(&[b"AUTH", password.as_bytes()]),
            };
            self.socket.write_all(&auth).map_err(io)?;
            self.expect_reply("AUTH")?;
        }
        let subscribe = command(&[b"PSUBSCRIBE", pattern.as_bytes()]);
        self.socket.write_all(&subscribe).map_err(io)?;
        self.expect_reply("PSUBSCRIBE")
    }

    /// Reads one reply, which must not be an error.
    fn expect_reply(&mut self, what: &str) -> Result<(), String> {
        match self.next() {
            Ok(Frame::Error(text)) => Err(format!(
                "Redis refused {what}: {}",
                String::from_utf8_lossy(self.bytes(text))
            )),
            Ok(_) => Ok(()),
            Err(error) => Err(format!("no reply to {what}: {error}")),
        }
    }

    /// How long a read or write waits before it ends with a timeout
    /// (`None`: for ever).
    pub(crate) fn set_timeouts(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.socket.set_read_timeout(timeout)?;
        self.socket.set_write_timeout(timeout)
    }

    /// Sends a `PING`; its reply comes as a [`Frame::Pong`], after the
    /// messages that were already on the way.
    pub(crate) fn ping(&mut self) -> io::Result<()> {
        self.socket.write_all(b"*1\r\n$4\r\nPING\r\n")
    }

    /// The next frame, reading from the socket when the buffer holds no
    /// whole one. A read that times out or is interrupted loses nothing:
    /// the next call carries on with what was read.
    pub(crate) fn next(&mut self) -> io::Result<Frame> {
        loop {
            match parse(&self.buffer[self.start..self.end]) {
                Ok(Some((frame, length))) => {
                    let frame = frame.shifted(self.start);
                    self.start += length;
                    return Ok(frame);
                }
                Ok(None) => self.fill()?,
                Err(error) => return Err(io::Error::new(io::ErrorKind::InvalidData, error)),
            }
        }
    }

    /// The bytes of a range of the last frame returned.
    pub(crate) fn bytes(&self, range: Range<usize>) -> &[u8] {
        &self.buffer[range]
    }

    /// Reads what the socket holds into the free end of the buffer, first
    /// moving a partly read frame to the front, or growing the buffer when
    /// that frame fills all of it.
    fn fill(&mut self) -> io::Result<()> {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
            if self.buffer.len() > INITIAL_BUFFER {
                self.buffer = vec![0; INITIAL_BUFFER];
            }
        }
        if self.end == self.buffer.len() {
            if self.start > 0 {
                self.buffer.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            } else if self.buffer.len() < MAX_FRAME {
                let grown = (self.buffer.len() * 2).min(MAX_FRAME);
                self.buffer.resize(grown, 0);
            } else {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    ProtocolError("a frame longer than Redis allows"),
                ));
            }
        }
        match self.socket.read(&mut self.buffer[self.end..])? {
            0 => Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "Redis closed the connection",
            )),
            read => {
                self.end += read;
                Ok(())
            }
        }
    }
}

/// Whether a read ended without the connection failing: its timeout passed
/// or a signal interrupted it. The same rule as
/// [`read_was_cut_short`](super::read_was_cut_short) for redis-rs's reads,
/// which takes it from here.
pub(crate) fn read_was_cut_short(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn pmessage(pattern: &[u8], channel: &[u8], payload: &[u8]) -> Vec<u8> {
        command(&[b"pmessage", pattern, channel, payload])
    }

    #[test]
    fn a_pmessage_lends_its_payload() {
        let frame = pmessage(
            b"/0.celeryev/*",
            b"/0.celeryev/task.succeeded",
            b"{\"x\":1}",
        );
        let (parsed, length) = parse(&frame).unwrap().unwrap();
        assert_eq!(length, frame.len());
        let Frame::Message { payload } = parsed else {
            panic!("not a message: {parsed:?}")
        };
        assert_eq!(&frame[payload], b"{\"x\":1}");
    }

    #[test]
    fn confirmations_pongs_and_errors_are_told_apart() {
        let confirmed = b"*3\r\n$10\r\npsubscribe\r\n$1\r\n*\r\n:1\r\n";
        assert_eq!(
            parse(confirmed).unwrap(),
            Some((Frame::Other, confirmed.len()))
        );
        let pong = b"*2\r\n$4\r\npong\r\n$0\r\n\r\n";
        assert_eq!(parse(pong).unwrap(), Some((Frame::Pong, pong.len())));
        assert_eq!(parse(b"+OK\r\n").unwrap(), Some((Frame::Other, 5)));
        let refused = b"-WRONGPASS invalid password\r\n";
        assert_eq!(
            parse(refused).unwrap(),
            Some((Frame::Error(1..refused.len() - 2), refused.len()))
        );
        let message = command(&[b"message", b"c", b"p"]);
        assert!(matches!(
            parse(&message).unwrap(),
            Some((Frame::Message { .. }, _))
        ));
        let null = b"*4\r\n$8\r\npmessage\r\n$1\r\n*\r\n$1\r\nc\r\n$-1\r\n";
        assert_eq!(
            parse(null).unwrap(),
            Some((
                Frame::Message {
                    payload: null.len()..null.len()
                },
                null.len()
            ))
        );
    }

    #[test]
    fn bytes_that_are_not_a_subscribers_resp_are_errors() {
        for bad in [
            &b"?\r\n"[..],
            b"*x\r\n",
            b"*0\r\n",
            b"*9\r\n",
            b"*1\r\n*1\r\n",
            b"*1\r\n$3\r\nabcXY",
            b"*1\r\n$99999999999999999999\r\n",
            b"*1\r\n$-\r\n",
            b"+OK\n",
            b"*1\r\n\n",
        ] {
            assert!(parse(bad).is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
    }

    proptest! {
        /// A stream of frames cut anywhere parses to the same frames: each
        /// prefix short of a whole frame asks for more, never for an error.
        #[test]
        fn frames_cut_anywhere_parse_once_whole(
            payloads in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 1..6),
            cut in any::<prop::sample::Index>(),
        ) {
            let stream: Vec<u8> = payloads
                .iter()
                .flat_map(|payload| pmessage(b"*", b"chan", payload))
                .collect();
            let cut = cut.index(stream.len() + 1);
            let mut at = 0;
            let mut seen = Vec::new();
            for limit in [cut, stream.len()] {
                while let Some((frame, length)) = parse(&stream[at..limit]).unwrap() {
                    let Frame::Message { payload } = frame.shifted(at) else {
                        panic!("not a message");
                    };
                    seen.push(stream[payload].to_vec());
                    at += length;
                }
            }
            prop_assert_eq!(at, stream.len());
            prop_assert_eq!(seen, payloads);
        }
    }
}
