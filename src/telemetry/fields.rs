//! How the text log writes fields: exactly as tracing-subscriber's
//! `DefaultFields` does, minus its cost where the output has no colours.
//!
//! The fmt layer formats a span's fields when the span is made, whether or
//! not anything is ever logged inside it, so every request pays for its
//! span's `request_id`, `method` and `route`. `DefaultFields` paints each
//! field name through `nu_ansi_term` even with colours off and writes every
//! value with `write!`: most of the request span's cost in the `/live`
//! profile (docs/design/perf.md). Without colours, a plain name and a plain
//! string value are written as they are here; anything else (the message,
//! errors, values that need escaping, coloured output) goes to
//! `DefaultFields`' own visitor, so the log reads the same either way.

use std::fmt::{self, Write as _};

use tracing::field::{Field, Visit};
use tracing_subscriber::field::{MakeVisitor, VisitFmt, VisitOutput};
use tracing_subscriber::fmt::format::{DefaultVisitor, Writer};

/// The text log's field formatter (`fmt::layer().fmt_fields(PlainFields)`).
#[derive(Debug, Clone, Copy, Default)]
pub struct PlainFields;

impl<'a> MakeVisitor<Writer<'a>> for PlainFields {
    type Visitor = PlainVisitor<'a>;

    fn make_visitor(&self, writer: Writer<'a>) -> Self::Visitor {
        PlainVisitor {
            out: Buffered {
                writer,
                pending: [0; PENDING],
                len: 0,
            },
            is_empty: true,
            result: Ok(()),
        }
    }
}

pub struct PlainVisitor<'a> {
    out: Buffered<'a>,
    is_empty: bool,
    result: fmt::Result,
}

/// Room for a request span's fields, written together when the visit ends.
const PENDING: usize = 192;

/// The writer with the plain fields held back, so a span's text is made
/// with one write: it grows by doubling, and every separate write that
/// crosses its capacity costs a reallocation.
struct Buffered<'a> {
    writer: Writer<'a>,
    pending: [u8; PENDING],
    len: usize,
}

impl Buffered<'_> {
    /// Writes out what is held back.
    fn flush(&mut self) -> fmt::Result {
        let len = std::mem::take(&mut self.len);
        if len == 0 {
            return Ok(());
        }
        // Only whole `str`s are held back: still UTF-8.
        let text = std::str::from_utf8(&self.pending[..len]).map_err(|_| fmt::Error)?;
        self.writer.write_str(text)
    }

    /// Holds back `parts`, or writes them out (after what is held) where
    /// they do not fit.
    fn write_all(&mut self, parts: &[&str]) -> fmt::Result {
        let len: usize = parts.iter().map(|part| part.len()).sum();
        let Some(room) = self.pending.get_mut(self.len..self.len + len) else {
            self.flush()?;
            return parts
                .iter()
                .try_for_each(|part| self.writer.write_str(part));
        };
        let mut at = 0;
        for part in parts {
            room[at..at + part.len()].copy_from_slice(part.as_bytes());
            at += part.len();
        }
        self.len += len;
        Ok(())
    }
}

impl fmt::Write for Buffered<'_> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        self.write_all(&[text])
    }
}

impl PlainVisitor<'_> {
    /// A field this visitor writes itself: not the message, not log
    /// metadata, not a raw identifier, and no colours to paint.
    fn is_plain(&self, field: &Field) -> bool {
        let name = field.name();
        !self.out.writer.has_ansi_escapes()
            && name != "message"
            && !name.starts_with("log.")
            && !name.starts_with("r#")
    }

    /// The separating space, if one is due.
    fn separator(&mut self) -> &'static str {
        if std::mem::take(&mut self.is_empty) {
            ""
        } else {
            " "
        }
    }

    /// Hands the field to `DefaultFields`' visitor.
    fn delegate(&mut self, field: &Field, visit: impl FnOnce(&mut DefaultVisitor<'_>, &Field)) {
        if let Err(e) = self.out.flush() {
            self.result = Err(e);
            return;
        }
        let mut inner = DefaultVisitor::new(self.out.writer.by_ref(), self.is_empty);
        visit(&mut inner, field);
        // It writes nothing for log metadata; everything else separates.
        if !field.name().starts_with("log.") {
            self.is_empty = false;
        }
        self.result = inner.finish();
    }
}

/// Written unescaped by `str`'s `Debug`: printable ASCII but `"` and `\`.
fn needs_no_escape(value: &str) -> bool {
    value
        .bytes()
        .all(|b| (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\')
}

impl Visit for PlainVisitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if self.result.is_err() {
            return;
        }
        if self.is_plain(field) && needs_no_escape(value) {
            let separator = self.separator();
            self.result = self
                .out
                .write_all(&[separator, field.name(), "=\"", value, "\""]);
        } else {
            self.delegate(field, |inner, field| inner.record_str(field, value));
        }
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        if self.result.is_err() {
            return;
        }
        self.delegate(field, |inner, field| inner.record_error(field, value));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if self.result.is_err() {
            return;
        }
        if self.is_plain(field) {
            let separator = self.separator();
            self.result = self
                .out
                .write_all(&[separator, field.name(), "="])
                .and_then(|()| write!(self.out, "{value:?}"));
        } else {
            self.delegate(field, |inner, field| inner.record_debug(field, value));
        }
    }
}

impl VisitOutput<fmt::Result> for PlainVisitor<'_> {
    fn finish(mut self) -> fmt::Result {
        self.result.and_then(|()| self.out.flush())
    }
}

impl VisitFmt for PlainVisitor<'_> {
    fn writer(&mut self) -> &mut dyn fmt::Write {
        // Whoever writes here directly comes after what is held back.
        if let Err(e) = self.out.flush() {
            self.result = Err(e);
        }
        &mut self.out.writer
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use tracing_subscriber::fmt::MakeWriter;
    use tracing_subscriber::fmt::format::DefaultFields;

    use super::*;

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Buffer {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Buffer {
        type Writer = Buffer;
        fn make_writer(&'a self) -> Buffer {
            self.clone()
        }
    }

    /// What a span and an event inside it look like in the log written
    /// with `fields`.
    fn logged<F>(fields: F) -> String
    where
        F: for<'w> tracing_subscriber::fmt::FormatFields<'w> + Send + Sync + 'static,
    {
        let out = Buffer::default();
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .without_time()
            .fmt_fields(fields)
            .with_writer(out.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            let id: Arc<str> = Arc::from("4f2a-b");
            // As `middleware::request_span` makes it.
            let span = tracing::info_span!(
                "request",
                request_id = &*id,
                method = axum::http::Method::GET.as_str(),
                route = "/api/v1/conversations/{id}",
                user_id = tracing::field::Empty,
            );
            let _entered = span.enter();
            span.record("user_id", "u-1");
            let quoted = "say \"hi\"\\";
            let err = std::io::Error::other("disk full");
            let err: &(dyn std::error::Error + 'static) = &err;
            tracing::warn!(
                count = 3,
                ok = true,
                quoted,
                accent = "café",
                error = err,
                "stored {} of {}",
                1,
                2
            );
            tracing::info!(r#type = "x", id = %id, "raw");
            // Past the join buffer: written part by part.
            let long = "y".repeat(300);
            tracing::info!(long = long.as_str(), "long");
        });
        let bytes = out.0.lock().unwrap().clone();
        String::from_utf8(bytes).unwrap()
    }

    #[test]
    fn the_text_log_reads_as_with_default_fields() {
        let plain = logged(PlainFields);
        assert_eq!(plain, logged(DefaultFields::new()));
        assert!(
            plain.contains(
                r#"request{request_id="4f2a-b" method="GET" route="/api/v1/conversations/{id}" user_id="u-1"}"#
            ),
            "{plain}"
        );
        assert!(
            plain.contains(r#"stored 1 of 2 count=3 ok=true"#),
            "{plain}"
        );
    }
}
