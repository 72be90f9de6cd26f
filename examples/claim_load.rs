//! Load generator for `scripts/bench-claims.sh`: a small HTTP/1.1 keep-alive client
//! that drives one endpoint of a running Relevo with N concurrent workers, and the
//! seeding of a benchmark tenant through the REST API.
//!
//! It speaks HTTP/1.1 directly over `tokio::net::TcpStream` (fixed request bytes,
//! `Content-Length` or chunked responses) so that the client, which shares the CPU
//! with Relevo and the database, costs as little as possible per request.
//!
//! ```text
//! claim_load run  --addr 127.0.0.1:8080[,127.0.0.1:8081…] --path /api/v1/tenants/1/sender/claim \
//!                 [--method POST] [--body '{}'] [--token T] [--concurrency 16] \
//!                 [--duration 10] [--warmup 2] [--label pg-c16] [--expect '"granted":1'] \
//!                 [--spread-forwarded-for true] [--bodies FILE] [--rate 500]
//! claim_load seed --addr 127.0.0.1:8080 --email E --password P [--instances 100] \
//!                 [--limit 100000] [--slug bench] [--evolution-url http://127.0.0.1:9000]
//! ```
//!
//! `--bodies FILE` posts the file's lines (one JSON body each) instead of `--body`: worker
//! `w` of `c` sends lines `w, w + c, w + 2c, …` in order and starts over, and stops only after
//! a whole round, so that the last body each worker sent for any line is known (the
//! webhook benchmark checks every event's effect that way). `--rate R` paces all workers
//! together at about R requests per second instead of as fast as they can.
//!
//! `run` prints one machine-readable `RESULT key=value …` line and one line for people;
//! any 5xx, transport error, timeout or unexpected body is also reported on stderr with
//! `!!!`. `seed` prints `TENANT_ID=…`, `SENDER_TOKEN=…` and `INSTANCE_IDS=…` lines.

use std::collections::HashMap;
use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

type AnyResult<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// A response is abandoned (and counted as a transport error) after this long.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let outcome = match args.first().map(String::as_str) {
        Some("run") => runtime.block_on(run(&args[1..])),
        Some("seed") => runtime.block_on(seed(&args[1..])),
        _ => Err("usage: claim_load run|seed --addr HOST:PORT … (see the file's header)".into()),
    };
    if let Err(error) = outcome {
        eprintln!("claim_load: {error}");
        std::process::exit(2);
    }
}

/// `--name value` pairs; every flag takes a value.
fn parse_flags(args: &[String], known: &[&str]) -> AnyResult<HashMap<String, String>> {
    let mut flags = HashMap::new();
    let mut iter = args.iter();
    while let Some(flag) = iter.next() {
        let name = flag
            .strip_prefix("--")
            .filter(|name| known.contains(name))
            .ok_or_else(|| format!("unknown argument `{flag}`; expected one of {known:?}"))?;
        let value = iter.next().ok_or_else(|| format!("{flag} needs a value"))?;
        flags.insert(name.to_string(), value.clone());
    }
    Ok(flags)
}

fn flag<T: std::str::FromStr>(
    flags: &HashMap<String, String>,
    name: &str,
    default: T,
) -> AnyResult<T> {
    match flags.get(name) {
        None => Ok(default),
        Some(raw) => raw
            .parse()
            .map_err(|_| format!("--{name} `{raw}` is not valid").into()),
    }
}

fn required<'a>(flags: &'a HashMap<String, String>, name: &str) -> AnyResult<&'a str> {
    flags
        .get(name)
        .map(String::as_str)
        .ok_or_else(|| format!("--{name} is required").into())
}

/// The bytes of one request, built once and sent as they are on every iteration.
fn request_bytes(
    addr: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> Vec<u8> {
    let mut head =
        format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nAccept: application/json\r\n");
    if let Some(token) = token {
        head.push_str(&format!("Authorization: Bearer {token}\r\n"));
    }
    match body {
        Some(body) => head.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )),
        None => head.push_str("\r\n"),
    }
    head.into_bytes()
}

struct Response {
    status: u16,
    /// The server announced `Connection: close`: open a new connection next time.
    close: bool,
    body: Vec<u8>,
}

/// One keep-alive connection and the bytes read past the last response.
struct Connection {
    stream: TcpStream,
    buffer: Vec<u8>,
}

fn protocol_error(message: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message.into())
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

impl Connection {
    async fn open(addr: &str) -> io::Result<Self> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(Self {
            stream,
            buffer: Vec::with_capacity(8192),
        })
    }

    /// Reads more bytes into the buffer; the peer closing the connection is an error.
    async fn fill(&mut self) -> io::Result<()> {
        let mut chunk = [0u8; 8192];
        let read = self.stream.read(&mut chunk).await?;
        if read == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "connection closed by the server",
            ));
        }
        self.buffer.extend_from_slice(&chunk[..read]);
        Ok(())
    }

    /// Takes the bytes up to and including the next CRLF (chunked bodies).
    async fn line(&mut self) -> io::Result<Vec<u8>> {
        loop {
            if let Some(end) = find(&self.buffer, b"\r\n") {
                return Ok(self.buffer.drain(..end + 2).take(end).collect());
            }
            self.fill().await?;
        }
    }

    async fn exactly(&mut self, length: usize) -> io::Result<Vec<u8>> {
        while self.buffer.len() < length {
            self.fill().await?;
        }
        Ok(self.buffer.drain(..length).collect())
    }

    async fn send(&mut self, request: &[u8]) -> io::Result<Response> {
        self.stream.write_all(request).await?;
        let head_end = loop {
            if let Some(end) = find(&self.buffer, b"\r\n\r\n") {
                break end;
            }
            self.fill().await?;
        };
        let head: Vec<u8> = self.buffer.drain(..head_end + 4).collect();
        let head = std::str::from_utf8(&head[..head_end])
            .map_err(|_| protocol_error("response head is not UTF-8"))?;
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap_or_default();
        let status: u16 = status_line
            .split(' ')
            .nth(1)
            .and_then(|code| code.parse().ok())
            .filter(|_| status_line.starts_with("HTTP/1."))
            .ok_or_else(|| protocol_error(format!("bad status line `{status_line}`")))?;
        let (mut length, mut chunked, mut close) = (None, false, false);
        for line in lines {
            let Some((name, value)) = line.split_once(':') else {
                continue;
            };
            let value = value.trim();
            if name.eq_ignore_ascii_case("content-length") {
                length = Some(
                    value
                        .parse::<usize>()
                        .map_err(|_| protocol_error("bad Content-Length"))?,
                );
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                chunked = value.to_ascii_lowercase().contains("chunked");
            } else if name.eq_ignore_ascii_case("connection") {
                close = value.eq_ignore_ascii_case("close");
            }
        }
        let body = if chunked {
            let mut body = Vec::new();
            loop {
                let size_line = self.line().await?;
                let size = std::str::from_utf8(&size_line)
                    .ok()
                    .and_then(|line| usize::from_str_radix(line.split(';').next()?.trim(), 16).ok())
                    .ok_or_else(|| protocol_error("bad chunk size"))?;
                if size == 0 {
                    // Trailers, up to the empty line.
                    while !self.line().await?.is_empty() {}
                    break body;
                }
                body.extend(self.exactly(size).await?);
                self.exactly(2).await?;
            }
        } else if let Some(length) = length {
            self.exactly(length).await?
        } else if status == 204 || status == 304 || (100..200).contains(&status) {
            Vec::new()
        } else {
            return Err(protocol_error(format!(
                "status {status} without Content-Length or chunked body"
            )));
        };
        Ok(Response {
            status,
            close,
            body,
        })
    }
}

/// CPU time (user + system) of this process so far, in seconds.
fn own_cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return f64::NAN;
    };
    // Fields after the command name (which is in parentheses and may hold spaces):
    // utime and stime are fields 14 and 15 of the line, in clock ticks of 1/100 s.
    let after_name = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or("");
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks = |index: usize| fields.get(index).and_then(|v| v.parse::<f64>().ok());
    match (ticks(11), ticks(12)) {
        (Some(user), Some(system)) => (user + system) / 100.0,
        _ => f64::NAN,
    }
}

struct Target {
    /// Where the workers connect, worker `i` to `addrs[i % addrs.len()]` (`--addr` takes
    /// a comma-separated list: several Relevo processes, as behind a load balancer).
    addrs: Vec<String>,
    request: Vec<u8>,
    /// With `--bodies`: one request per line of the file.
    requests: Vec<Vec<u8>>,
    expect: Option<Vec<u8>>,
    /// Give every request its own `X-Forwarded-For` address (a flood from many
    /// clients, as Relevo sees it behind a trusted proxy).
    spread_forwarded_for: bool,
}

impl Target {
    fn request(&self, sequence: u32) -> std::borrow::Cow<'_, [u8]> {
        if !self.spread_forwarded_for {
            return std::borrow::Cow::Borrowed(&self.request);
        }
        let line_end = find(&self.request, b"\r\n").map_or(0, |end| end + 2);
        let [_, a, b, c] = sequence.to_be_bytes();
        let mut request = self.request[..line_end].to_vec();
        request.extend_from_slice(format!("X-Forwarded-For: 10.{a}.{b}.{c}\r\n").as_bytes());
        request.extend_from_slice(&self.request[line_end..]);
        std::borrow::Cow::Owned(request)
    }
}

/// Numbers the requests of all workers, for `--spread-forwarded-for`.
static SEQUENCE: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(1);

#[derive(Default)]
struct WorkerStats {
    /// Latency in microseconds of every request started inside the measured window.
    latencies: Vec<u32>,
    ok: u64,
    too_many: u64,
    other_4xx: u64,
    server_errors: u64,
    transport_errors: u64,
    bad_bodies: u64,
    /// 200s over the whole run, warm-up included (to compare with the database's log).
    ok_total: u64,
    /// Last completion of a measured request.
    last_done: Option<Instant>,
    first_problem: Option<String>,
}

impl WorkerStats {
    fn problem(&mut self, message: String) {
        if self.first_problem.is_none() {
            self.first_problem = Some(message);
        }
    }

    fn merge(&mut self, other: WorkerStats) {
        self.latencies.extend(other.latencies);
        self.ok += other.ok;
        self.too_many += other.too_many;
        self.other_4xx += other.other_4xx;
        self.server_errors += other.server_errors;
        self.transport_errors += other.transport_errors;
        self.bad_bodies += other.bad_bodies;
        self.ok_total += other.ok_total;
        self.last_done = self.last_done.max(other.last_done);
        if self.first_problem.is_none() {
            self.first_problem = other.first_problem;
        }
    }
}

/// Where a worker is: which worker of how many, and its pace.
#[derive(Clone, Copy)]
struct Place {
    index: usize,
    of: usize,
    /// Between two requests of this worker, with `--rate`.
    interval: Option<Duration>,
}

async fn worker(
    target: Arc<Target>,
    place: Place,
    measure_from: Instant,
    until: Instant,
) -> WorkerStats {
    let mut stats = WorkerStats::default();
    let mut connection: Option<Connection> = None;
    // With `--bodies`, this worker's lines, and where it is in them.
    let own: Vec<&[u8]> = target
        .requests
        .iter()
        .skip(place.index)
        .step_by(place.of)
        .map(Vec::as_slice)
        .collect();
    let mut next_line = 0;
    let paced_from = Instant::now();
    let mut sent: u32 = 0;
    loop {
        let round_done = own.is_empty() || next_line == 0;
        if round_done && Instant::now() >= until {
            break;
        }
        if let Some(interval) = place.interval {
            tokio::time::sleep_until((paced_from + interval * sent).into()).await;
        }
        let conn = match connection.as_mut() {
            Some(conn) => conn,
            None => match Connection::open(&target.addrs[place.index % target.addrs.len()]).await {
                Ok(conn) => connection.insert(conn),
                Err(error) => {
                    stats.transport_errors += 1;
                    stats.problem(format!("connect: {error}"));
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
        };
        let started = Instant::now();
        let sequence = SEQUENCE.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let request = match own.get(next_line) {
            Some(line) => std::borrow::Cow::Borrowed(*line),
            None => target.request(sequence),
        };
        let outcome = tokio::time::timeout(REQUEST_TIMEOUT, conn.send(&request)).await;
        let done = Instant::now();
        let measured = started >= measure_from;
        sent += 1;
        let response = match outcome {
            Ok(Ok(response)) => {
                if !own.is_empty() {
                    next_line = (next_line + 1) % own.len();
                }
                response
            }
            Ok(Err(error)) => {
                stats.transport_errors += 1;
                stats.problem(format!("transport: {error}"));
                connection = None;
                continue;
            }
            Err(_) => {
                stats.transport_errors += 1;
                stats.problem(format!("no response within {REQUEST_TIMEOUT:?}"));
                connection = None;
                continue;
            }
        };
        if response.close {
            connection = None;
        }
        let body_ok = match &target.expect {
            Some(needle) if is_success(response.status) => find(&response.body, needle).is_some(),
            _ => true,
        };
        if is_success(response.status) {
            stats.ok_total += 1;
        }
        if !measured {
            continue;
        }
        stats
            .latencies
            .push(u32::try_from((done - started).as_micros()).unwrap_or(u32::MAX));
        stats.last_done = Some(done);
        match response.status {
            status if is_success(status) && body_ok => stats.ok += 1,
            status if is_success(status) => {
                stats.bad_bodies += 1;
                stats.problem(format!(
                    "unexpected 200 body: {}",
                    String::from_utf8_lossy(&response.body)
                ));
            }
            429 => stats.too_many += 1,
            400..=499 => {
                stats.other_4xx += 1;
                stats.problem(format!(
                    "status {}: {}",
                    response.status,
                    String::from_utf8_lossy(&response.body)
                ));
            }
            status => {
                stats.server_errors += 1;
                stats.problem(format!(
                    "status {status}: {}",
                    String::from_utf8_lossy(&response.body)
                ));
            }
        }
    }
    stats
}

/// 200, or 201 for an endpoint that creates (a message sent).
fn is_success(status: u16) -> bool {
    matches!(status, 200 | 201)
}

/// Nearest-rank percentile of sorted latencies, in milliseconds.
fn percentile_ms(sorted: &[u32], quantile: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((quantile * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    f64::from(sorted[rank - 1]) / 1000.0
}

async fn run(args: &[String]) -> AnyResult<()> {
    let flags = parse_flags(
        args,
        &[
            "addr",
            "path",
            "method",
            "body",
            "token",
            "concurrency",
            "duration",
            "warmup",
            "label",
            "expect",
            "spread-forwarded-for",
            "bodies",
            "rate",
        ],
    )?;
    let addrs: Vec<String> = required(&flags, "addr")?
        .split(',')
        .map(|addr| addr.trim().to_string())
        .filter(|addr| !addr.is_empty())
        .collect();
    let addr = addrs.first().ok_or("--addr names no address")?.clone();
    let path = required(&flags, "path")?;
    let method = flag(&flags, "method", "POST".to_string())?;
    let body = match flags.get("body") {
        Some(body) => Some(body.as_str()),
        None if method == "POST" => Some("{}"),
        None => None,
    };
    let concurrency: usize = flag(&flags, "concurrency", 1)?;
    let duration: f64 = flag(&flags, "duration", 10.0)?;
    let warmup: f64 = flag(&flags, "warmup", 2.0)?;
    let label = flag(&flags, "label", "run".to_string())?;
    if concurrency == 0 || duration <= 0.0 || warmup < 0.0 {
        return Err("--concurrency and --duration must be positive".into());
    }
    let token = flags.get("token").map(String::as_str);
    let requests = match flags.get("bodies") {
        Some(file) => std::fs::read_to_string(file)?
            .lines()
            .filter(|line| !line.trim().is_empty())
            .map(|line| request_bytes(&addr, &method, path, token, Some(line)))
            .collect(),
        None => Vec::new(),
    };
    let rate: f64 = flag(&flags, "rate", 0.0)?;
    let interval = (rate > 0.0).then(|| Duration::from_secs_f64(concurrency as f64 / rate));
    let target = Arc::new(Target {
        request: request_bytes(&addr, &method, path, token, body),
        requests,
        expect: flags.get("expect").map(|text| text.as_bytes().to_vec()),
        spread_forwarded_for: flag(&flags, "spread-forwarded-for", false)?,
        addrs,
    });

    let start = Instant::now();
    let measure_from = start + Duration::from_secs_f64(warmup);
    let until = measure_from + Duration::from_secs_f64(duration);
    let workers: Vec<_> = (0..concurrency)
        .map(|index| {
            let place = Place {
                index,
                of: concurrency,
                interval,
            };
            tokio::spawn(worker(target.clone(), place, measure_from, until))
        })
        .collect();
    tokio::time::sleep_until(measure_from.into()).await;
    let cpu_at_start = own_cpu_seconds();
    let mut stats = WorkerStats::default();
    for handle in workers {
        stats.merge(handle.await?);
    }
    let cpu = own_cpu_seconds() - cpu_at_start;
    let window = stats
        .last_done
        .map(|done| (done - measure_from).as_secs_f64())
        .unwrap_or(duration)
        .max(duration);

    stats.latencies.sort_unstable();
    let requests = stats.latencies.len();
    let rate = requests as f64 / window;
    let (p50, p90, p99, p999) = (
        percentile_ms(&stats.latencies, 0.50),
        percentile_ms(&stats.latencies, 0.90),
        percentile_ms(&stats.latencies, 0.99),
        percentile_ms(&stats.latencies, 0.999),
    );
    let max = stats
        .latencies
        .last()
        .map(|&us| f64::from(us) / 1000.0)
        .unwrap_or(f64::NAN);
    let non_200 = stats.too_many
        + stats.other_4xx
        + stats.server_errors
        + stats.transport_errors
        + stats.bad_bodies;
    println!(
        "RESULT label={label} concurrency={concurrency} window_s={window:.3} requests={requests} \
         rps={rate:.1} p50_ms={p50:.3} p90_ms={p90:.3} p99_ms={p99:.3} p999_ms={p999:.3} \
         max_ms={max:.3} s200={} s429={} s4xx_other={} s5xx={} transport_errors={} bad_bodies={} \
         non_200={non_200} ok_total={} client_cpu_s={cpu:.2}",
        stats.ok,
        stats.too_many,
        stats.other_4xx,
        stats.server_errors,
        stats.transport_errors,
        stats.bad_bodies,
        stats.ok_total,
    );
    println!(
        "{label}: {concurrency} workers, {rate:.0} req/s over {window:.1} s; latency p50 {p50:.2} ms, \
         p99 {p99:.2} ms, max {max:.2} ms; 200: {}, 429: {}, other 4xx: {}, 5xx: {}, transport errors: {}; \
         client CPU {cpu:.2} s",
        stats.ok, stats.too_many, stats.other_4xx, stats.server_errors, stats.transport_errors,
    );
    let loud = stats.server_errors + stats.transport_errors + stats.bad_bodies;
    if loud > 0 || stats.other_4xx > 0 {
        eprintln!(
            "!!! {label}: {} 5xx, {} transport errors/timeouts, {} bad 200 bodies, {} other 4xx; first: {}",
            stats.server_errors,
            stats.transport_errors,
            stats.bad_bodies,
            stats.other_4xx,
            stats.first_problem.as_deref().unwrap_or("-")
        );
    }
    Ok(())
}

/// One JSON request on a fresh connection; answers the status and the parsed body.
async fn call(
    addr: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&Value>,
) -> AnyResult<(u16, Value)> {
    let text = body.map(Value::to_string);
    let request = request_bytes(addr, method, path, token, text.as_deref());
    let response = Connection::open(addr).await?.send(&request).await?;
    let value = if response.body.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&response.body)?
    };
    Ok((response.status, value))
}

async fn expect_status(
    addr: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: &Value,
    status: u16,
) -> AnyResult<Value> {
    let (got, reply) = call(addr, method, path, token, Some(body)).await?;
    if got != status {
        return Err(format!("{method} {path}: expected {status}, got {got}: {reply}").into());
    }
    Ok(reply)
}

/// Logs in, creates a tenant with `--instances` instances of `--limit` messages a day
/// and issues a sender token for it.
async fn seed(args: &[String]) -> AnyResult<()> {
    let flags = parse_flags(
        args,
        &[
            "addr",
            "email",
            "password",
            "instances",
            "limit",
            "slug",
            "evolution-url",
        ],
    )?;
    let addr = required(&flags, "addr")?;
    let instances: u32 = flag(&flags, "instances", 100)?;
    let limit: u32 = flag(&flags, "limit", 100_000)?;
    let slug = flag(&flags, "slug", "bench".to_string())?;
    let evolution_url = flags.get("evolution-url").cloned();
    if instances == 0 || instances > 9_999_999 {
        return Err("--instances must be between 1 and 9999999".into());
    }

    let login =
        json!({"email": required(&flags, "email")?, "password": required(&flags, "password")?});
    let reply = expect_status(addr, "POST", "/api/v1/auth/login", None, &login, 200).await?;
    let admin = reply["data"]["access_token"]
        .as_str()
        .ok_or("login answered no access_token")?
        .to_string();
    let admin = Some(admin.as_str());

    let tenant = json!({"slug": slug, "nombre": "Benchmark tenant", "timezone": "UTC"});
    let reply = expect_status(addr, "POST", "/api/v1/tenants", admin, &tenant, 201).await?;
    let tenant_id = reply["data"]["id"].as_i64().ok_or("tenant without id")?;

    let mut ids = Vec::new();
    for n in 0..instances {
        // Colombian mobile numbers (+57 300 …), distinct per instance.
        let mut instance = json!({
            "phone_number": format!("+57300{n:07}"),
            "instance_name": format!("{slug}_{n}"),
            "evolution_api_key": format!("bench-key-{n}"),
            "daily_message_limit": limit,
        });
        if let Some(url) = &evolution_url {
            instance["evolution_api_url"] = json!(url);
        }
        let path = format!("/api/v1/tenants/{tenant_id}/whatsapp-instances");
        let reply = expect_status(addr, "POST", &path, admin, &instance, 201).await?;
        ids.push(reply["data"]["id"].as_i64().ok_or("instance without id")?);
    }

    let path = format!("/api/v1/tenants/{tenant_id}/sender-tokens");
    let body = json!({"name": "bench"});
    let reply = expect_status(addr, "POST", &path, admin, &body, 201).await?;
    let token = reply["data"]["token"].as_str().ok_or("no sender token")?;

    println!("TENANT_ID={tenant_id}");
    println!("SENDER_TOKEN={token}");
    println!(
        "INSTANCE_IDS={}",
        ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",")
    );
    Ok(())
}
