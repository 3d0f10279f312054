//! The request body deadline. actix bounds how long a client may take to send
//! a request's headers, but not its body: a client that sent its headers and
//! then one byte of a 100-byte body was never answered, and enough of them
//! held the server's connections (issue 7). The body is wrapped in a stream
//! that fails once the deadline passes, so the handler's extractor gives up;
//! [`crate::request_context`] then answers 408 and closes the connection.
//!
//! Only waiting for the body is bounded: a handler that has its body runs to
//! completion, so a write to the database is never cut off halfway.

use actix_web::HttpMessage;
use actix_web::dev::{Payload, ServiceRequest};
use actix_web::error::PayloadError;
use actix_web::web::Bytes;
use futures_core::Stream;
use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::time::{Instant, Sleep};

/// The body deadline of every request, registered as app data by
/// [`crate::configure`] from [`crate::AppState::request_timeout`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct BodyTimeout(pub(crate) Duration);

/// Whether a request's body missed its deadline; shared by the wrapped body
/// (which sets it) and the middleware (which reads it after the handler).
#[derive(Debug, Clone, Default)]
pub(crate) struct Expired(Rc<Cell<bool>>);

impl Expired {
    pub(crate) fn get(&self) -> bool {
        self.0.get()
    }
}

/// Wraps `req`'s body so that it fails `timeout` from now. Requests without
/// a body, and a zero timeout, are left alone (`None`).
pub(crate) fn apply(req: &mut ServiceRequest, timeout: Duration) -> Option<Expired> {
    if timeout.is_zero() {
        return None;
    }
    let inner = req.take_payload();
    if matches!(inner, Payload::None) {
        return None;
    }
    let expired = Expired::default();
    let body = DeadlineBody {
        inner,
        deadline: Instant::now() + timeout,
        timer: None,
        expired: expired.clone(),
    };
    req.set_payload(Payload::Stream {
        payload: Box::pin(body),
    });
    Some(expired)
}

/// A request body that fails with `TimedOut` when it has to wait for more
/// data after the deadline. Data that arrived in time is always delivered.
struct DeadlineBody {
    inner: Payload,
    deadline: Instant,
    /// Created on the first wait, so a body that is already here costs no timer.
    timer: Option<Pin<Box<Sleep>>>,
    expired: Expired,
}

impl Stream for DeadlineBody {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.expired.get() {
            return Poll::Ready(None);
        }
        if let ready @ Poll::Ready(_) = Pin::new(&mut this.inner).poll_next(cx) {
            return ready;
        }
        let deadline = this.deadline;
        let timer = this
            .timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        if timer.as_mut().poll(cx).is_pending() {
            return Poll::Pending;
        }
        this.expired.0.set(true);
        Poll::Ready(Some(Err(PayloadError::Io(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "the request body did not arrive in time",
        )))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request_context;
    use actix_web::dev::Service;
    use actix_web::http::StatusCode;
    use actix_web::{App, HttpResponse, test, web};

    const TIMEOUT: Duration = Duration::from_millis(300);

    /// A body that sends one byte and then nothing, like the probe's clients.
    struct OneByteThenSilence(bool);

    impl Stream for OneByteThenSilence {
        type Item = Result<Bytes, PayloadError>;
        fn poll_next(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Self::Item>> {
            if self.0 {
                Poll::Pending
            } else {
                self.0 = true;
                Poll::Ready(Some(Ok(Bytes::from_static(b"{"))))
            }
        }
    }

    async fn echo(body: web::Json<serde_json::Value>) -> HttpResponse {
        HttpResponse::Ok().json(body.into_inner())
    }

    /// Reads its body, then works for longer than the deadline.
    async fn slow_after_body(body: web::Json<serde_json::Value>) -> HttpResponse {
        tokio::time::sleep(TIMEOUT * 2).await;
        HttpResponse::Created().json(body.into_inner())
    }

    async fn slow_without_body() -> HttpResponse {
        tokio::time::sleep(TIMEOUT * 2).await;
        HttpResponse::Ok().finish()
    }

    macro_rules! app {
        ($timeout:expr) => {
            test::init_service(
                App::new()
                    .app_data(BodyTimeout($timeout))
                    .route("/echo", web::post().to(echo))
                    .route("/slow", web::post().to(slow_after_body))
                    .route("/slow", web::get().to(slow_without_body))
                    .wrap(actix_web::middleware::from_fn(request_context)),
            )
            .await
        };
    }

    /// A request to `/echo` whose body stalls after its first byte.
    macro_rules! stalled_post {
        () => {{
            let mut req = test::TestRequest::post()
                .uri("/echo")
                .insert_header(("content-type", "application/json"))
                .insert_header(("content-length", "100"))
                .to_request();
            *req.payload() = Payload::Stream {
                payload: Box::pin(OneByteThenSilence(false)),
            };
            req
        }};
    }

    #[actix_web::test]
    async fn a_body_that_stops_arriving_is_answered_408_in_json_at_the_deadline() {
        let app = app!(TIMEOUT);
        let started = std::time::Instant::now();
        let res = app.call(stalled_post!()).await.unwrap();
        let waited = started.elapsed();
        assert_eq!(res.status(), StatusCode::REQUEST_TIMEOUT);
        assert!(
            waited >= TIMEOUT && waited < TIMEOUT * 4,
            "answered after {waited:?}"
        );
        assert_eq!(
            res.headers().get("content-type").unwrap(),
            "application/json"
        );
        assert!(res.headers().contains_key("x-request-id"));
        let body: serde_json::Value = test::read_body_json(res).await;
        assert_eq!(body["error"]["code"], "request_timeout", "{body}");
    }

    #[actix_web::test]
    async fn a_handler_that_has_its_body_is_not_cut_off() {
        let app = app!(TIMEOUT);
        let req = test::TestRequest::post()
            .uri("/slow")
            .set_json(serde_json::json!({"name": "kept"}))
            .to_request();
        let res = test::call_service(&app, req).await;
        assert_eq!(res.status(), StatusCode::CREATED);
        let body: serde_json::Value = test::read_body_json(res).await;
        assert_eq!(body["name"], "kept");
    }

    #[actix_web::test]
    async fn requests_without_a_body_have_no_deadline() {
        let app = app!(TIMEOUT);
        let req = test::TestRequest::get().uri("/slow").to_request();
        assert_eq!(test::call_service(&app, req).await.status(), StatusCode::OK);
    }

    #[actix_web::test]
    async fn a_zero_timeout_turns_the_deadline_off() {
        let app = app!(Duration::ZERO);
        let res = tokio::time::timeout(TIMEOUT * 2, app.call(stalled_post!())).await;
        assert!(res.is_err(), "answered although no deadline was set");
    }
}
