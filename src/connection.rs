//! Framing: a Kafka connection is a stream of frames, each a big-endian i32 length and that many
//! bytes, over plain TCP or TLS. This module reads whole frames and writes encoded responses; it
//! knows no APIs.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufWriter, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;

/// A client's byte stream: PLAINTEXT and SASL_PLAINTEXT listeners serve TCP as is, SSL and
/// SASL_SSL ones TLS over it.
pub enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl Stream {
    fn tcp(&self) -> &TcpStream {
        match self {
            Stream::Plain(tcp) => tcp,
            Stream::Tls(tls) => tls.get_ref().0,
        }
    }

    /// The client's certificate (DER), when it presented one over TLS.
    pub fn peer_certificate(&self) -> Option<&[u8]> {
        match self {
            Stream::Plain(_) => None,
            Stream::Tls(tls) => tls
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|certs| certs.first())
                .map(|cert| cert.as_ref()),
        }
    }
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// Kafka's `socket.request.max.bytes` default: a larger frame is refused and the connection closed.
pub const MAX_FRAME: usize = 100 * 1024 * 1024;

pub struct Connection {
    stream: BufWriter<Stream>,
    buffer: BytesMut,
}

#[derive(Debug)]
pub enum FrameError {
    Io(std::io::Error),
    /// The length prefix is negative or beyond `MAX_FRAME`.
    BadLength(i32),
}

impl std::fmt::Display for FrameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FrameError::Io(e) => write!(f, "{e}"),
            FrameError::BadLength(len) => write!(f, "invalid frame length {len}"),
        }
    }
}

impl Connection {
    pub fn new(stream: Stream) -> Self {
        let _ = stream.tcp().set_nodelay(true);
        Connection {
            stream: BufWriter::new(stream),
            buffer: BytesMut::with_capacity(64 * 1024),
        }
    }

    /// The next whole frame without its length prefix; `None` when the peer closed cleanly
    /// between frames.
    pub async fn read_frame(&mut self) -> Result<Option<Bytes>, FrameError> {
        loop {
            if self.buffer.len() >= 4 {
                let len = i32::from_be_bytes(self.buffer[..4].try_into().unwrap());
                if len < 0 || len as usize > MAX_FRAME {
                    return Err(FrameError::BadLength(len));
                }
                let total = 4 + len as usize;
                if self.buffer.len() >= total {
                    let mut frame = self.buffer.split_to(total);
                    frame.advance(4);
                    return Ok(Some(frame.freeze()));
                }
                self.buffer.reserve(total - self.buffer.len());
            }
            let read = self
                .stream
                .read_buf(&mut self.buffer)
                .await
                .map_err(FrameError::Io)?;
            if read == 0 {
                return if self.buffer.is_empty() {
                    Ok(None)
                } else {
                    Err(FrameError::Io(std::io::ErrorKind::UnexpectedEof.into()))
                };
            }
        }
    }

    pub fn peer_addr(&self) -> Option<std::net::SocketAddr> {
        self.stream.get_ref().tcp().peer_addr().ok()
    }

    pub fn peer_certificate(&self) -> Option<&[u8]> {
        self.stream.get_ref().peer_certificate()
    }

    /// Makes closing this connection reset it (RST), as a crashed broker's connections are;
    /// under TLS, the TCP connection beneath.
    pub fn reset_on_close(&self) {
        let _ = self.stream.get_ref().tcp().set_zero_linger();
    }

    /// Writes a raw SASL token (after a v0 SaslHandshake) with its length prefix.
    pub async fn write_token(&mut self, token: &[u8]) -> std::io::Result<()> {
        self.stream
            .write_all(&(token.len() as i32).to_be_bytes())
            .await?;
        self.write_frame(token).await
    }

    /// Writes an encoded frame (length prefix included) and flushes it.
    pub async fn write_frame(&mut self, frame: &[u8]) -> std::io::Result<()> {
        self.stream.write_all(frame).await?;
        self.stream.flush().await
    }
}
