//! Log lines. Each is a `tracing` event written in the context of its spans: a request's
//! (`request{request_id=…}`, opened by [`crate::request_id::assign`]), a claim batch's
//! (`claim_batch{request_ids=…}`), a background worker's run (`worker{worker=… run=…}`).
//! The `log` macros, Relevo's and its dependencies', are bridged into the same lines.
//! `RUST_LOG` filters (default `info`); `RELEVO_LOG_FORMAT` picks text or JSON.
//!
//! Spans live on the task or thread that entered them: work handed to another thread
//! takes its caller's span along through [`on_blocking_thread`].

use std::io::IsTerminal;
use std::time::Instant;

use tracing::Span;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

/// How lines are written (`RELEVO_LOG_FORMAT`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LogFormat {
    /// One line of text per event, for people.
    #[default]
    Text,
    /// One JSON object per line, for log shippers.
    Json,
}

impl LogFormat {
    /// `text` or `json`, in any case.
    pub fn parse(raw: &str) -> Option<Self> {
        match raw.to_ascii_lowercase().as_str() {
            "text" => Some(Self::Text),
            "json" => Some(Self::Json),
            _ => None,
        }
    }
}

/// Installs this process's logging: lines in `format` on stderr, filtered by `RUST_LOG`
/// (`info` when unset), with `log` records bridged in. Once per process.
pub fn init(format: LogFormat) -> anyhow::Result<()> {
    let filter = EnvFilter::builder()
        .with_default_directive(tracing::Level::INFO.into())
        .from_env_lossy();
    let ansi = std::io::stderr().is_terminal();
    tracing_subscriber::registry()
        .with(lines(format, std::io::stderr, ansi).with_filter(filter))
        .try_init()?;
    Ok(())
}

/// The formatting layer: every event with the fields of the spans it happened in.
/// JSON lines carry the event's fields at the top level (`message`, …) and its spans
/// in `spans`, outermost first.
pub fn lines<S, W>(format: LogFormat, writer: W, ansi: bool) -> Box<dyn Layer<S> + Send + Sync>
where
    S: tracing::Subscriber + for<'span> LookupSpan<'span>,
    W: for<'writer> MakeWriter<'writer> + Send + Sync + 'static,
{
    let layer = tracing_subscriber::fmt::layer().with_writer(writer);
    match format {
        LogFormat::Text => layer.with_ansi(ansi).boxed(),
        LogFormat::Json => layer
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(true)
            .boxed(),
    }
}

/// The span of one step of a background worker: its name and a run id of its own, so
/// that the lines of one step can be told from the next one's.
///
/// At error level, as the request's span, so that it is there whenever any line is.
pub fn worker_span(worker: &'static str) -> Span {
    tracing::error_span!("worker", worker = %worker, run = %uuid::Uuid::new_v4())
}

/// `work`, ready to run on another thread (`web::block`, `spawn_blocking`, a thread of
/// its own) in the span of the caller, so its lines keep the caller's request id. At
/// debug level it logs how long it took there, `what` naming it.
pub fn on_blocking_thread<T>(
    what: &'static str,
    work: impl FnOnce() -> T + Send + 'static,
) -> impl FnOnce() -> T + Send + 'static {
    let span = Span::current();
    move || {
        span.in_scope(|| {
            let started = Instant::now();
            let outcome = work();
            tracing::debug!("{what} took {:?} on a blocking thread", started.elapsed());
            outcome
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use tracing::subscriber::with_default;
    use tracing_subscriber::layer::SubscriberExt;

    use super::*;

    /// Lines written to memory.
    #[derive(Clone, Default)]
    struct Written(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Written {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Written {
        fn lines(&self) -> Vec<String> {
            let bytes = self.0.lock().unwrap();
            String::from_utf8_lossy(&bytes)
                .lines()
                .map(str::to_string)
                .collect()
        }
    }

    /// The lines `emit` writes in `format` through `filter`.
    fn written(format: LogFormat, filter: &str, emit: impl FnOnce()) -> Vec<String> {
        let out = Written::default();
        let writer = out.clone();
        let subscriber = tracing_subscriber::registry()
            .with(lines(format, move || writer.clone(), false).with_filter(EnvFilter::new(filter)));
        with_default(subscriber, emit);
        out.lines()
    }

    fn in_a_request() {
        let request = tracing::error_span!("request", request_id = "rid-1");
        let _entered = request.enter();
        tracing::warn!(target: "relevo::error", "a failure");
        tracing::info!(target: "relevo::sender", "a grant");
    }

    #[test]
    fn a_text_line_names_its_request() {
        let lines = written(LogFormat::Text, "info", in_a_request);

        assert_eq!(lines.len(), 2, "{lines:?}");
        assert!(
            lines[0].contains(" WARN request{request_id=\"rid-1\"}: relevo::error: a failure"),
            "{lines:?}"
        );
    }

    #[test]
    fn a_json_line_is_one_object_with_its_spans() {
        let lines = written(LogFormat::Json, "info", in_a_request);

        assert_eq!(lines.len(), 2, "{lines:?}");
        let line: serde_json::Value = serde_json::from_str(&lines[0]).unwrap();
        assert_eq!(line["level"], "WARN");
        assert_eq!(line["target"], "relevo::error");
        assert_eq!(line["message"], "a failure");
        assert_eq!(
            line["spans"],
            serde_json::json!([{"name": "request", "request_id": "rid-1"}])
        );
        assert!(line["timestamp"].is_string());
    }

    #[test]
    fn the_filter_keeps_what_it_names() {
        let warn_only = written(LogFormat::Text, "warn", in_a_request);
        let sender_only = written(LogFormat::Text, "relevo::sender=info", in_a_request);

        assert_eq!(warn_only.len(), 1, "{warn_only:?}");
        assert!(
            warn_only[0].contains("request_id=\"rid-1\""),
            "{warn_only:?}"
        );
        assert_eq!(sender_only.len(), 1, "{sender_only:?}");
        assert!(sender_only[0].ends_with("relevo::sender: a grant"));
    }

    #[test]
    fn blocking_work_keeps_its_callers_span() {
        let lines = written(LogFormat::Text, "debug", || {
            let request = tracing::error_span!("request", request_id = "rid-2");
            let work = request.in_scope(|| {
                on_blocking_thread("database work", || {
                    tracing::info!("inside");
                    7
                })
            });
            // Run after the request's span was left, as on a pool's thread.
            assert_eq!(work(), 7);
        });

        assert_eq!(lines.len(), 2, "{lines:?}");
        assert!(lines
            .iter()
            .all(|line| line.contains("request{request_id=\"rid-2\"}")));
        assert!(lines[1].contains("database work took "), "{lines:?}");
    }

    #[test]
    fn a_workers_step_has_a_run_of_its_own() {
        let lines = written(LogFormat::Text, "info", || {
            for _ in 0..2 {
                worker_span("sync").in_scope(|| tracing::info!("a step"));
            }
        });

        let runs: Vec<&str> = lines
            .iter()
            .map(|line| {
                let run = line.split("worker{worker=sync run=").nth(1).unwrap();
                run.split('}').next().unwrap()
            })
            .collect();
        assert_eq!(runs.len(), 2, "{lines:?}");
        assert_ne!(runs[0], runs[1]);
        assert!(uuid::Uuid::parse_str(runs[0]).is_ok(), "{lines:?}");
    }

    #[test]
    fn the_format_is_text_or_json() {
        assert_eq!(LogFormat::parse("text"), Some(LogFormat::Text));
        assert_eq!(LogFormat::parse("JSON"), Some(LogFormat::Json));
        assert_eq!(LogFormat::parse("logfmt"), None);
        assert_eq!(LogFormat::parse(""), None);
    }
}
