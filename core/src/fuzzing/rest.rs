//! The REST broadcast response parser.

use core::time::Duration;

use crate::supabase::rest::{Auth, BatchMessage, MAX_RESPONSE_BODY, RestBody, RestError, RestRequest};
use crate::time::Instant;

/// A request of the kind the first byte picks (single or batch), its bytes written out.
fn request(single: bool) -> Option<RestRequest> {
    let auth = Auth { api_key: "key", access_token: Some("token") };
    let url = "wss://fuzz.test/realtime/v1";
    let timeout = Duration::from_secs(10);
    let mut req = if single {
        RestRequest::single(url, auth, "room", "event", false, RestBody::Json("{}"), Instant::ZERO, timeout)
            .ok()?
    } else {
        let message = BatchMessage { topic: "room", event: "event", payload: "{}", private: true };
        RestRequest::batch(url, auth, &[message], Instant::ZERO, timeout).ok()?
    };
    let mut out = [0u8; 256];
    while req.poll_transmit(&mut out) > 0 {}
    Some(req)
}

/// The result of a request fed `data` in `pieces`, then, when `eof`, the end of the stream.
fn outcome(
    single: bool,
    data: &[u8],
    pieces: impl Iterator<Item = usize>,
    eof: bool,
) -> Option<Result<(), RestError>> {
    let mut req = request(single)?;
    let mut at = 0;
    for len in pieces {
        let consumed = req.handle_input(&data[at..at + len]);
        assert_eq!(consumed, len, "a response byte left unconsumed");
        at += len;
    }
    if eof {
        req.handle_eof();
        assert!(req.result().is_some(), "no result after the end of the stream");
    }
    req.result().cloned()
}

/// The response parser on `data` after the first byte, which picks the request kind, whether
/// the stream ends after it, and how it is split: the same result whole or split, and an error
/// message no longer than the kept body (a lossy UTF-8 reading may triple invalid bytes).
pub fn rest_response(data: &[u8]) {
    let Some((&mode, response)) = data.split_first() else { return };
    let (single, eof) = (mode & 1 == 1, mode & 2 == 2);
    let whole = outcome(single, response, core::iter::once(response.len()), eof);
    let split = outcome(single, response, super::pieces(mode >> 2, response.len()), eof);
    assert_eq!(whole, split, "the result differs when the response is split");
    let message = match &whole {
        Some(Err(
            RestError::Unauthorized(m)
            | RestError::Forbidden(m)
            | RestError::PayloadTooLarge(m)
            | RestError::Invalid(m)
            | RestError::RateLimited(m)
            | RestError::Status { message: m, .. },
        )) => m.as_str(),
        _ => "",
    };
    assert!(message.len() <= 3 * MAX_RESPONSE_BODY, "an error message of {} bytes", message.len());
}
