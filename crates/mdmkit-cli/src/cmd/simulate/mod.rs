//! `mdmkit simulate URL`: a load generator for a running `mdmkit serve`.
//!
//! Simulated Apple devices and Windows PCs enroll over HTTP, check in,
//! fetch their commands, apply them and answer with real reports; the
//! run ends after one session per device, after `--duration`, or when the
//! server's admin API reports every simulated device verified
//! (`--until-verified`). The report gives throughput and p50/p99 latency
//! per message type (`docs/simulate.md`).

mod android;
mod apple;
mod fleet;
mod stats;
mod windows;

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::{Args, Subcommand};
use mdmkit::identity::CaDir;

use self::android::{AndroidDevice, Google};
use self::apple::AppleDevice;
use self::stats::{Phase, Report, Stats};
use self::windows::WindowsDevice;
use crate::error::{CliError, Context};

/// `mdmkit simulate`.
// main.rs sets `args_conflicts_with_subcommands` and
// `subcommand_negates_reqs` on the command, so `android-setup` runs without
// a URL.
#[derive(Debug, Args)]
pub(crate) struct SimulateArgs {
    #[command(subcommand)]
    setup: Option<SetupCommand>,
    #[command(flatten)]
    run: RunArgs,
}

/// What must be in place before `mdmkit serve` starts.
#[derive(Debug, Subcommand)]
enum SetupCommand {
    /// Points a tenant directory's Android settings at a simulated Google
    /// (writes `DIR/.mdmkit/android.toml`; run before `mdmkit serve`).
    AndroidSetup(android::SetupArgs),
}

/// A run of `mdmkit simulate URL`.
#[derive(Debug, Args)]
struct RunArgs {
    /// The server's base URL, as `mdmkit serve` prints it
    /// (`http://127.0.0.1:8080`).
    // Options (required unless a subcommand runs) so that clap's derive
    // accepts their absence under `android-setup`.
    #[arg(required = true)]
    url: Option<String>,
    /// The tenant the devices enroll into (the `id` of its `tree.toml`).
    #[arg(long, required = true)]
    tenant: Option<String>,
    /// Simulated Apple devices (iPads).
    #[arg(long, default_value_t = 0, value_name = "N")]
    apple: usize,
    /// Simulated Windows PCs.
    #[arg(long, default_value_t = 0, value_name = "N")]
    windows: usize,
    /// Simulated Android tablets (needs `--google`).
    #[arg(long, default_value_t = 0, value_name = "N")]
    android: usize,
    /// The simulated Google's state file that `mdmkit simulate
    /// android-setup DIR` wrote (`DIR/.mdmkit/simulate-google.json`).
    #[arg(long, value_name = "FILE")]
    google: Option<PathBuf>,
    /// An admin token of role `operate` (`mdmkit admin token create`): it
    /// creates the Windows enrollment challenges (one reusable challenge
    /// per `--node`) and reads compliance for `--until-verified`, so its
    /// node must be at or above every node the devices enroll into.
    #[arg(long, env = "MDMKIT_ADMIN_TOKEN", value_name = "TOKEN")]
    admin_token: Option<String>,
    /// A token of role `enroll`: Apple devices authenticate with
    /// `?enroll=TOKEN` and land under its node (under the root without
    /// one).
    #[arg(long, env = "MDMKIT_ENROLL_TOKEN", value_name = "TOKEN")]
    enroll_token: Option<String>,
    /// The tenant's CA directory (`DIR/.mdmkit/ca`), which issues the
    /// Apple devices' identities in place of SCEP.
    #[arg(long, value_name = "DIR")]
    ca: Option<PathBuf>,
    /// A node Windows PCs enroll under (repeatable: PCs are dealt out in
    /// turn; default: the admin token's node). Android tablets enroll
    /// under the first (default: the root).
    #[arg(long, value_name = "NODE")]
    node: Vec<String>,
    /// Devices starting an enrollment or a check-in session per second,
    /// at most (default: as fast as the server answers).
    #[arg(long, value_name = "PER_SECOND")]
    rate: Option<f64>,
    /// Devices talking to the server at once.
    #[arg(long, default_value_t = 64, value_name = "N")]
    concurrency: usize,
    /// Keep devices checking in, in turn, for this long (`90s`, `5m`).
    #[arg(long, value_parser = humantime::parse_duration, conflicts_with = "until_verified")]
    duration: Option<Duration>,
    /// Keep checking in until the server reports every simulated device
    /// verified (polls the admin API).
    #[arg(long)]
    until_verified: bool,
    /// How long `--until-verified` waits before giving up (exit code 1).
    #[arg(long, default_value = "10m", value_parser = humantime::parse_duration)]
    timeout: Duration,
    /// The fleet file: devices in it are already enrolled and only check
    /// in; devices enrolled by this run are added to it. It holds private
    /// keys (written readable by its owner only).
    #[arg(long, value_name = "FILE")]
    fleet: Option<PathBuf>,
    /// The prefix of the simulated device ids.
    #[arg(long, default_value = "SIM", value_name = "PREFIX")]
    prefix: String,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

/// What can go wrong for one simulated device: its request is counted
/// as an error and the device tries again at its next session.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum SimError {
    /// The request did not complete.
    #[error("transport: {0}")]
    Transport(String),
    /// The server answered with a status other than 2xx.
    #[error("status {status}: {body}")]
    Status {
        /// The status.
        status: u16,
        /// The beginning of the body.
        body: String,
    },
    /// The server's answer is not what the protocol says.
    #[error("answer: {0}")]
    Answer(String),
    /// A message of the device could not be built.
    #[error("building a message: {0}")]
    Build(String),
    /// A key or a certificate request could not be made.
    #[error("device key: {0}")]
    Key(String),
    /// The device's certificate could not be issued or used.
    #[error("device identity: {0}")]
    Identity(String),
}

/// A request's message type and phase, for the statistics.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Timed {
    kind: &'static str,
    phase: Phase,
}

impl Timed {
    pub(crate) fn new(kind: &'static str, phase: Phase) -> Self {
        Self { kind, phase }
    }
}

/// The server and how to reach it.
pub(crate) struct Http {
    pub(crate) client: reqwest::Client,
    /// The base URL, without a trailing `/`.
    pub(crate) base: String,
    pub(crate) tenant: String,
    enroll_token: Option<String>,
    admin_token: Option<String>,
}

impl Http {
    /// The Apple check-in URL, with `?enroll=` when there is a token.
    pub(crate) fn apple_checkin_url(&self) -> String {
        match &self.enroll_token {
            Some(t) => format!("{}/{}/apple/checkin?enroll={t}", self.base, self.tenant),
            None => format!("{}/{}/apple/checkin", self.base, self.tenant),
        }
    }

    /// Sends a request; the body of a 2xx, timed; anything else is an
    /// error of that message type.
    pub(crate) async fn send(
        &self,
        req: reqwest::RequestBuilder,
        timed: Timed,
        stats: &mut Stats,
    ) -> Result<Vec<u8>, SimError> {
        let started = Instant::now();
        let result = async {
            let r = req
                .send()
                .await
                .map_err(|e| SimError::Transport(crate::error::chain(&e)))?;
            let status = r.status().as_u16();
            let body = r
                .bytes()
                .await
                .map_err(|e| SimError::Transport(crate::error::chain(&e)))?;
            if !(200..300).contains(&status) {
                let text = String::from_utf8_lossy(&body[..body.len().min(200)])
                    .trim()
                    .to_owned();
                return Err(SimError::Status { status, body: text });
            }
            Ok(body.to_vec())
        }
        .await;
        match &result {
            Ok(_) => stats.ok(timed.kind, timed.phase, started.elapsed()),
            Err(e) => stats.error(timed.kind, timed.phase, &e.to_string()),
        }
        result
    }
}

/// A simulated device of any platform.
pub(crate) enum Device {
    Apple(AppleDevice),
    Windows(WindowsDevice),
    Android(AndroidDevice),
}

impl Device {
    fn id(&self) -> &str {
        match self {
            Device::Apple(d) => &d.udid,
            Device::Windows(d) => d.id(),
            Device::Android(d) => &d.name,
        }
    }

    fn platform(&self) -> &'static str {
        match self {
            Device::Apple(_) => "apple",
            Device::Windows(_) => "windows",
            Device::Android(_) => "android",
        }
    }
}

/// Spaces the starts of device operations to `--rate` per second.
struct Pacer {
    every: Option<Duration>,
    next: Mutex<Instant>,
}

impl Pacer {
    fn new(rate: Option<f64>) -> Self {
        Self {
            every: rate
                .filter(|r| r.is_finite() && *r > 0.0)
                .map(|r| Duration::from_secs_f64(1.0 / r)),
            next: Mutex::new(Instant::now()),
        }
    }

    async fn wait(&self) {
        let Some(every) = self.every else { return };
        let at = {
            let mut next = self.next.lock().unwrap_or_else(|p| p.into_inner());
            let now = Instant::now();
            let at = (*next).max(now);
            *next = at + every;
            at
        };
        tokio::time::sleep_until(at.into()).await;
    }
}

/// What every round shares.
#[derive(Clone)]
struct Ctx {
    http: Arc<Http>,
    google: Option<Arc<Google>>,
    pacer: Arc<Pacer>,
    concurrency: usize,
}

/// What the workers of a round do with each device.
#[derive(Clone)]
enum Work {
    /// Enroll it, with the Windows challenges (dealt out in turn).
    Enroll(Arc<Vec<String>>),
    /// One check-in session.
    Session,
}

/// The outcome of a round: the devices (those whose enrollment failed
/// are left out of an enrollment round), statistics, operations done.
struct Round {
    devices: Vec<Device>,
    failed: usize,
    stats: Stats,
    operations: u64,
}

/// Runs `work` once for every device with `concurrency` workers (or,
/// with `repeat`, over and over in turn) until `deadline`, if any.
async fn round(
    devices: Vec<Device>,
    work: Work,
    ctx: &Ctx,
    deadline: Option<Instant>,
    repeat: bool,
) -> Round {
    let concurrency = ctx.concurrency;
    let queue = Arc::new(Mutex::new(
        devices.into_iter().enumerate().collect::<VecDeque<_>>(),
    ));
    let mut tasks = Vec::new();
    for _ in 0..concurrency.max(1) {
        let queue = queue.clone();
        let work = work.clone();
        let Ctx {
            http,
            google,
            pacer,
            ..
        } = ctx.clone();
        tasks.push(tokio::spawn(async move {
            let mut stats = Stats::default();
            let mut done = Vec::new();
            let mut failed = 0;
            let mut operations = 0;
            loop {
                if deadline.is_some_and(|d| Instant::now() >= d) {
                    break;
                }
                let next = queue.lock().unwrap_or_else(|p| p.into_inner()).pop_front();
                let Some((i, mut device)) = next else { break };
                pacer.wait().await;
                let ok = match (&work, &mut device) {
                    (Work::Enroll(_), Device::Apple(d)) => d.enroll(&http, &mut stats).await,
                    (Work::Enroll(challenges), Device::Windows(d)) => {
                        match challenges.get(i % challenges.len().max(1)) {
                            Some(c) => d.enroll(&http, c, &mut stats).await,
                            None => Err(SimError::Answer("no enrollment challenge".into())),
                        }
                    }
                    (Work::Session, Device::Apple(d)) => d.session(&http, &mut stats).await,
                    (Work::Session, Device::Windows(d)) => d.session(&http, &mut stats).await,
                    (work, Device::Android(d)) => match (&google, work) {
                        (Some(g), Work::Enroll(_)) => d.enroll(&http, g, &mut stats).await,
                        (Some(g), Work::Session) => d.session(&http, g, &mut stats).await,
                        (None, _) => Err(SimError::Answer("no simulated Google".into())),
                    },
                }
                .is_ok();
                operations += 1;
                match (&work, ok, repeat) {
                    (Work::Enroll(_), false, _) => failed += 1,
                    (Work::Session, _, true) => queue
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .push_back((i, device)),
                    _ => done.push((i, device)),
                }
            }
            (done, failed, stats, operations)
        }));
    }
    let mut out = Round {
        devices: Vec::new(),
        failed: 0,
        stats: Stats::default(),
        operations: 0,
    };
    let mut done = Vec::new();
    for t in tasks {
        match t.await {
            Ok((d, failed, stats, operations)) => {
                done.extend(d);
                out.failed += failed;
                out.stats.merge(stats);
                out.operations += operations;
            }
            Err(e) => out.stats.error("simulator", Phase::Checkin, &e.to_string()),
        }
    }
    // Devices a deadline left in the queue.
    done.extend(queue.lock().unwrap_or_else(|p| p.into_inner()).drain(..));
    done.sort_by_key(|(i, _)| *i);
    out.devices = done.into_iter().map(|(_, d)| d).collect();
    out
}

pub(crate) fn run(args: SimulateArgs) -> Result<ExitCode, CliError> {
    let args = match args.setup {
        Some(SetupCommand::AndroidSetup(a)) => return android::setup(a),
        None => args.run,
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    rt.block_on(simulate(args))
}

fn usage(message: impl Into<String>) -> CliError {
    CliError::with_code(2, message)
}

async fn simulate(args: RunArgs) -> Result<ExitCode, CliError> {
    let (Some(url), Some(tenant)) = (args.url.clone(), args.tenant.clone()) else {
        return Err(usage("simulate needs a URL and --tenant"));
    };
    let base = url.trim_end_matches('/').to_owned();
    if !base.starts_with("http://") {
        return Err(usage(format!(
            "{base}: only http:// URLs (devices present their certificates as a \
             TLS-terminating proxy forwards them; serve with --trusted-proxy)"
        )));
    }
    if args.until_verified && args.admin_token.is_none() {
        return Err(usage(
            "--until-verified needs --admin-token (role read or above)",
        ));
    }
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(args.concurrency.max(1))
        .timeout(Duration::from_secs(120))
        .tcp_nodelay(true)
        .build()
        .context("HTTP client")?;
    let http = Arc::new(Http {
        client,
        base,
        tenant: tenant.clone(),
        enroll_token: args.enroll_token.clone(),
        admin_token: args.admin_token.clone(),
    });
    let pacer = Arc::new(Pacer::new(args.rate));
    let mut stats = Stats::default();
    let run_started = Instant::now();

    // The fleet: loaded, then grown to the counts asked for.
    let mut enrolled = match &args.fleet {
        Some(f) if f.exists() => fleet::load(f, &tenant)?,
        _ => Vec::new(),
    };
    let have = |p: &str, v: &[Device]| v.iter().filter(|d| d.platform() == p).count();
    let mut fresh = Vec::new();
    let apple_from = have("apple", &enrolled);
    if args.apple > apple_from {
        let ca_dir = args.ca.as_ref().ok_or_else(|| {
            usage("--apple needs --ca DIR/.mdmkit/ca to issue the devices' identities")
        })?;
        let ca = CaDir::new(ca_dir)
            .load_ca()
            .context(format_args!("the CA in {}", ca_dir.display()))?;
        for i in apple_from..args.apple {
            let udid = format!("{}-APPLE-{i:07}", args.prefix);
            fresh.push(Device::Apple(
                AppleDevice::issue(&ca, &udid).context(format_args!("device {udid}"))?,
            ));
        }
    }
    let android_from = have("android", &enrolled);
    let google = match &args.google {
        Some(f) => Some(Arc::new(
            Google::start(f, &tenant, args.node.first().map(String::as_str)).await?,
        )),
        None if args.android > 0 || android_from > 0 => {
            return Err(usage(
                "--android needs --google DIR/.mdmkit/simulate-google.json \
                 (`mdmkit simulate android-setup DIR` before `mdmkit serve`)",
            ));
        }
        None => None,
    };
    if let Some(g) = &google {
        for d in &enrolled {
            if let Device::Android(a) = d {
                a.reappear(g).context(format_args!("device {}", a.name))?;
            }
        }
        for i in android_from..args.android {
            fresh.push(Device::Android(AndroidDevice::new(
                g,
                &format!("{}-tab-{i:07}", args.prefix.to_ascii_lowercase()),
            )));
        }
    }
    let windows_from = have("windows", &enrolled);
    let mut challenges = Vec::new();
    if args.windows > windows_from {
        let token = args.admin_token.as_deref().ok_or_else(|| {
            usage("--windows needs --admin-token (role operate) to create enrollment challenges")
        })?;
        let nodes: Vec<Option<&str>> = if args.node.is_empty() {
            vec![None]
        } else {
            args.node.iter().map(|n| Some(n.as_str())).collect()
        };
        for node in nodes {
            challenges.push(create_challenge(&http, token, node, &mut stats).await?);
        }
        for i in windows_from..args.windows {
            fresh.push(Device::Windows(WindowsDevice::new(&format!(
                "{}-PC-{i:07}",
                args.prefix
            ))));
        }
    }

    let ctx = Ctx {
        http: http.clone(),
        google,
        pacer,
        concurrency: args.concurrency,
    };
    let enroll_started = Instant::now();
    let mut enroll_failed = 0;
    if !fresh.is_empty() {
        let r = round(fresh, Work::Enroll(Arc::new(challenges)), &ctx, None, false).await;
        enroll_failed = r.failed;
        stats.merge(r.stats);
        enrolled.extend(r.devices);
    }
    let enroll_time = enroll_started.elapsed();
    if let Some(f) = &args.fleet {
        fleet::save(f, &tenant, &enrolled)?;
    }

    // Check-in.
    let checkin_started = Instant::now();
    let deadline = args.duration.map(|d| checkin_started + d);
    let r = round(enrolled, Work::Session, &ctx, deadline, deadline.is_some()).await;
    let mut sessions = r.operations;
    stats.merge(r.stats);
    let mut devices = r.devices;
    let mut verified = None;
    let mut verified_after = None;
    if args.until_verified {
        let give_up = checkin_started + args.timeout;
        loop {
            let done = verified_devices(&http, &devices, &mut stats).await;
            let all = done.len() == devices.len();
            verified = Some(done.len());
            if all {
                verified_after = Some(checkin_started.elapsed());
                break;
            }
            if Instant::now() >= give_up {
                break;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
            // Devices not verified yet check in again.
            let (again, rest): (Vec<Device>, Vec<Device>) =
                devices.into_iter().partition(|d| !done.contains(d.id()));
            let r = round(again, Work::Session, &ctx, Some(give_up), false).await;
            sessions += r.operations;
            stats.merge(r.stats);
            devices = rest;
            devices.extend(r.devices);
        }
    }
    let checkin_time = checkin_started.elapsed();
    if let Some(f) = &args.fleet {
        fleet::save(f, &tenant, &devices)?;
    }

    let mut counts = BTreeMap::new();
    counts.insert("apple", have("apple", &devices));
    counts.insert("windows", have("windows", &devices));
    counts.insert("android", have("android", &devices));
    let report = Report {
        devices: counts,
        enrolled: devices.len(),
        verified,
        enroll_seconds: enroll_time.as_secs_f64(),
        checkin_seconds: checkin_time.as_secs_f64(),
        verified_after_seconds: verified_after.map(|d| d.as_secs_f64()),
        sessions,
        errors: stats.errors(),
        first_errors: stats.first_errors.clone(),
        messages: stats.rows(|p| match p {
            Phase::Enroll => enroll_time,
            Phase::Checkin => checkin_time,
            Phase::Admin => run_started.elapsed(),
        }),
    };
    let text = if args.json {
        let mut j = serde_json::to_string_pretty(&report).context("report")?;
        j.push('\n');
        j
    } else {
        report.table()
    };
    {
        use std::io::Write as _;
        let mut out = std::io::stdout().lock();
        out.write_all(text.as_bytes())
            .and_then(|()| out.flush())
            .context("cannot write the report")?;
    }
    let failed =
        enroll_failed > 0 || report.errors > 0 || (args.until_verified && verified_after.is_none());
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// `POST /{tenant}/admin/v1/enroll/challenges`: one reusable challenge
/// for the node (the token's own when `None`), valid for a day.
async fn create_challenge(
    http: &Http,
    token: &str,
    node: Option<&str>,
    stats: &mut Stats,
) -> Result<String, CliError> {
    let body = serde_json::json!({
        "node": node,
        "reusable": true,
        "ttl_seconds": 86_400,
        "label": "mdmkit simulate",
    });
    let req = http
        .client
        .post(format!(
            "{}/{}/admin/v1/enroll/challenges",
            http.base, http.tenant
        ))
        .bearer_auth(token)
        .header("content-type", "application/json")
        .body(body.to_string());
    let answer = http
        .send(req, Timed::new("admin.challenge", Phase::Admin), stats)
        .await
        .context(format_args!(
            "creating an enrollment challenge for {}",
            node.unwrap_or("the admin token's node")
        ))?;
    let v: serde_json::Value =
        serde_json::from_slice(&answer).context("the challenge answer is not JSON")?;
    v["challenge"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| CliError::new("the challenge answer has no `challenge`"))
}

/// The simulated devices the admin API lists as verified: every category
/// verified or unsupported, and at least one category.
async fn verified_devices(http: &Http, devices: &[Device], stats: &mut Stats) -> HashSet<String> {
    let ours: HashSet<&str> = devices.iter().map(Device::id).collect();
    let Some(token) = &http.admin_token else {
        return HashSet::new();
    };
    let req = http
        .client
        .get(format!("{}/{}/admin/v1/devices", http.base, http.tenant))
        .bearer_auth(token);
    let Ok(body) = http
        .send(req, Timed::new("admin.devices", Phase::Admin), stats)
        .await
    else {
        return HashSet::new();
    };
    let v: serde_json::Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => {
            stats.error("admin.devices", Phase::Admin, &format!("not JSON: {e}"));
            return HashSet::new();
        }
    };
    v["devices"]
        .as_array()
        .map(|list| {
            list.iter()
                .filter(|d| {
                    d["compliant"] == true
                        && d["categories"].as_array().is_some_and(|c| !c.is_empty())
                })
                .filter_map(|d| d["device"].as_str())
                .filter(|id| ours.contains(id))
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}
