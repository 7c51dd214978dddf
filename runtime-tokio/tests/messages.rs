//! The driver's self-framing path (`TransportKind::Messages`, as a browser's WebSocket will
//! use it), run over an independent WebSocket implementation: tokio-tungstenite's client
//! framing, under a runtime that is tokio's in every other respect. The conformance scenarios
//! that do not depend on byte-level details run on it.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_util::{Sink, Stream};
use realtime_core::ws;
use realtime_driver::{
    Config, Drive, Error, FromContext, IoError, MessageSocket, Runtime, SocketEvent, SocketOpenError, StdLock,
};
use realtime_tokio::Tokio;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// Tokio, with tungstenite sockets.
#[derive(Clone, Debug)]
struct Framed(Tokio);

/// A tungstenite WebSocket as the driver's [`MessageSocket`].
struct Socket(WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>);

fn io(e: WsError) -> IoError {
    IoError::new(e)
}

impl MessageSocket for Socket {
    fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Result<SocketEvent, IoError>> {
        loop {
            let Some(item) = std::task::ready!(Pin::new(&mut self.0).poll_next(cx)) else {
                return Poll::Ready(Err(IoError::msg("the socket ended")));
            };
            return Poll::Ready(match item.map_err(io)? {
                Message::Text(t) => Ok(SocketEvent::Message(ws::Message::Text(t.as_str().to_owned()))),
                Message::Binary(b) => Ok(SocketEvent::Message(ws::Message::Binary(b.to_vec()))),
                Message::Close(frame) => Ok(SocketEvent::Closed {
                    code: frame.as_ref().map(|f| u16::from(f.code)),
                    reason: frame.map(|f| f.reason.as_str().to_owned()).unwrap_or_default(),
                }),
                // tungstenite answers pings itself.
                Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => continue,
            });
        }
    }
    fn poll_send(
        &mut self,
        cx: &mut Context<'_>,
        msg: &mut Option<ws::Message>,
    ) -> Poll<Result<(), IoError>> {
        let mut sink = Pin::new(&mut self.0);
        if let Some(m) = msg.take() {
            std::task::ready!(sink.as_mut().poll_ready(cx)).map_err(io)?;
            let m = match m {
                ws::Message::Text(t) => Message::text(t),
                ws::Message::Binary(b) => Message::binary(b),
            };
            sink.as_mut().start_send(m).map_err(io)?;
        }
        sink.poll_flush(cx).map_err(io)
    }
    fn poll_close(&mut self, cx: &mut Context<'_>, code: u16, reason: &str) -> Poll<Result<(), IoError>> {
        let mut sink = Pin::new(&mut self.0);
        if std::task::ready!(sink.as_mut().poll_ready(cx)).is_ok() {
            let frame = CloseFrame { code: code.into(), reason: reason.to_owned().into() };
            let _ = sink.as_mut().start_send(Message::Close(Some(frame)));
        }
        sink.poll_close(cx).map_err(io)
    }
}

type Boxed<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl Runtime for Framed {
    type Lock<T> = StdLock<T>;
    type Timer = <Tokio as Runtime>::Timer;
    type Tcp = <Tokio as Runtime>::Tcp;
    type Stream = <Tokio as Runtime>::Stream;
    type Connect = <Tokio as Runtime>::Connect;
    type Handshake = <Tokio as Runtime>::Handshake;
    type Socket = Socket;
    type OpenSocket = Boxed<Result<Socket, SocketOpenError>>;

    fn now(&self) -> realtime_core::Instant {
        self.0.now()
    }
    fn unix_ms(&self) -> Option<u64> {
        self.0.unix_ms()
    }
    fn timer(&self) -> Self::Timer {
        self.0.timer()
    }
    fn connect(&self, host: &str, port: u16) -> Self::Connect {
        self.0.connect(host, port)
    }
    fn plain(&self, tcp: Self::Tcp) -> Self::Stream {
        self.0.plain(tcp)
    }
    fn tls(&self, tcp: Self::Tcp, server_name: &str) -> Self::Handshake {
        self.0.tls(tcp, server_name)
    }
    fn open_socket(&self, url: &str, headers: &[(String, String)]) -> Self::OpenSocket {
        let url = url.to_owned();
        let headers = headers.to_vec();
        Box::pin(async move {
            let mut req = url.into_client_request().map_err(|e| SocketOpenError::Io(io(e)))?;
            for (k, v) in headers {
                let (Ok(k), Ok(v)) = (
                    tokio_tungstenite::tungstenite::http::HeaderName::try_from(k),
                    tokio_tungstenite::tungstenite::http::HeaderValue::try_from(v),
                ) else {
                    continue;
                };
                req.headers_mut().insert(k, v);
            }
            match tokio_tungstenite::connect_async(req).await {
                Ok((s, _)) => Ok(Socket(s)),
                Err(WsError::Http(resp)) => Err(SocketOpenError::Rejected { status: resp.status().as_u16() }),
                Err(e) => Err(SocketOpenError::Io(io(e))),
            }
        })
    }
    fn entropy(&self) -> Result<[u8; 32], IoError> {
        self.0.entropy()
    }
    fn spawn(&self, drive: Drive<Self>) -> Result<(), Error> {
        tokio::spawn(drive);
        Ok(())
    }
}

impl FromContext for Framed {
    fn from_context(config: &Config) -> Result<Self, Error> {
        Tokio::from_context(config).map(Framed)
    }
}

fn messages(mut config: Config) -> Config {
    config.client.transport = realtime_core::client::TransportKind::Messages;
    config
}

realtime_conformance::suite!(
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    Framed,
    config = messages,
    only = [
        subscribe_reports_the_connection,
        broadcasts_go_both_ways_with_acks_binary_and_rest,
        a_room_larger_than_the_stream_lags_then_syncs,
        a_slow_broadcast_reader_gets_a_lag_item,
        postgres_changes_reach_their_bindings,
        the_server_dropping_every_connection_is_survived,
        a_half_open_link_is_found_by_the_heartbeat,
        the_client_comes_back_after_a_restart_on_the_same_port,
        a_refused_join_fails_subscribe_and_is_not_retried,
        a_cloned_channel_is_a_handle_of_its_own,
        unsubscribe_and_remove_say_how_the_leave_ended,
        disconnect_with_a_code_and_reason,
        shutdown_closes_politely_and_ends_every_stream,
        dropping_every_handle_closes_the_connection,
        subscribe_on_a_joined_channel_is_answered_by_the_core,
        system_messages_come_on_their_own_stream,
    ]
);
