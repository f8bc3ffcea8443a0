//! Simulated Android devices. They never call the server: Google does.
//! So the simulator plays Google with `mdmkit-android`'s emulator (the
//! AMAPI resources the server patches, the OAuth token endpoint, the
//! Pub/Sub push tokens), on an address and with keys that
//! `mdmkit simulate android-setup` wrote into the tenant's
//! `android.toml` before `mdmkit serve` started. A device enrolls with a
//! token bound to a node (an ENROLLMENT push), and checks in by applying
//! the policy Google holds for it and reporting (a STATUS_REPORT push).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};

use base64::Engine as _;
use clap::Args;
use mdmkit::android::emulator::{Emulator, EmulatorKeys};
use mdmkit::android::pubsub::{EnrollmentBinding, envelope};
use serde::{Deserialize, Serialize};

use super::stats::{Phase, Stats};
use super::{Http, SimError, Timed};
use crate::error::{CliError, Context};

/// The enterprise the emulator plays.
const ENTERPRISE: &str = "enterprises/LCSIMULATE";
/// The name of the state file, beside `android.toml`.
pub(crate) const STATE_FILE: &str = "simulate-google.json";

/// `mdmkit simulate android-setup`.
#[derive(Debug, Args)]
pub(crate) struct SetupArgs {
    /// The tenant directory `mdmkit serve` will serve.
    dir: PathBuf,
    /// Where the simulated Google will listen (the simulator starts it on
    /// each run; the server calls it there). Port 0: a free port, chosen
    /// now and kept.
    #[arg(long, default_value = "127.0.0.1:9099", value_name = "ADDR")]
    google: SocketAddr,
    /// How often the server delivers queued Android commands to Google.
    #[arg(long, default_value = "1s", value_name = "DURATION")]
    drain_every: String,
}

/// What a run needs to play the Google the server was configured for.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct State {
    listen: SocketAddr,
    enterprise: String,
    audience: String,
    /// Base64 PKCS#8.
    service_account_key: String,
    /// Base64 PKCS#8.
    issuer_key: String,
}

fn b64() -> base64::engine::GeneralPurpose {
    base64::engine::general_purpose::STANDARD
}

/// Writes `DIR/.mdmkit/android.toml`, the service-account key it names,
/// and the simulator's state (the emulator's address and keys).
pub(crate) fn setup(a: SetupArgs) -> Result<ExitCode, CliError> {
    humantime::parse_duration(&a.drain_every)
        .map_err(|e| CliError::with_code(2, format!("--drain-every: {e}")))?;
    let state_dir = a.dir.join(".mdmkit");
    let toml_path = state_dir.join(super::super::android::FILE);
    if toml_path.exists() {
        return Err(CliError::new(format!(
            "{} exists: a tenant's real Android settings are never replaced by the simulator's",
            toml_path.display()
        )));
    }
    std::fs::create_dir_all(&state_dir)
        .context(format_args!("cannot create {}", state_dir.display()))?;
    let keys = EmulatorKeys::generate().context("generating the emulator's keys")?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    // Started once to learn what the server must be told (its URLs, the
    // service-account key file), then stopped.
    let (listen, sa, api, issuer, jwks) = rt.block_on(async {
        let emu = Emulator::start_on(a.google, &keys)
            .await
            .context(format_args!("cannot listen on {}", a.google))?;
        Ok::<_, CliError>((
            emu.local_addr(),
            emu.service_account_key(),
            emu.base_url(),
            emu.issuer(),
            emu.jwks_url(),
        ))
    })?;
    let audience = "mdmkit-simulate".to_owned();
    super::super::enroll::write_private(&state_dir.join("android-sa.json"), &sa)?;
    let toml = format!(
        "# Written by `mdmkit simulate android-setup`: Google is the simulator's\n\
         # emulator on {listen}. Remove this file (and android-sa.json,\n\
         # {STATE_FILE}) to stop simulating.\n\
         enterprise = \"{ENTERPRISE}\"\n\
         service_account_key = \"android-sa.json\"\n\
         api_url = \"{api}\"\n\
         drain_every = \"{drain}\"\n\n\
         [retry]\nattempts = 8\nbase_delay = \"50ms\"\nmax_delay = \"1s\"\n\n\
         [pubsub]\naudience = \"{audience}\"\nissuer = \"{issuer}\"\njwks_url = \"{jwks}\"\n",
        drain = a.drain_every,
    );
    std::fs::write(&toml_path, toml)
        .context(format_args!("cannot write {}", toml_path.display()))?;
    let state = State {
        listen,
        enterprise: ENTERPRISE.to_owned(),
        audience,
        service_account_key: b64().encode(&keys.service_account_pkcs8),
        issuer_key: b64().encode(&keys.issuer_pkcs8),
    };
    let state_path = state_dir.join(STATE_FILE);
    let json = serde_json::to_vec_pretty(&state).context("state")?;
    super::super::enroll::write_private(&state_path, &json)?;
    eprintln!(
        "mdmkit: {} now points at a simulated Google on {}; start `mdmkit serve`, then \
         `mdmkit simulate URL --android N --google {}`",
        toml_path.display(),
        listen,
        state_path.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// The simulated Google of a run.
pub(crate) struct Google {
    emu: Emulator,
    enterprise: String,
    audience: String,
    /// The enrollment token devices enroll with.
    token: String,
    messages: AtomicU64,
}

impl Google {
    /// Starts the emulator of `state_file` and creates an enrollment
    /// token bound to `node` (the root when `None`) of `tenant`.
    pub(crate) async fn start(
        state_file: &Path,
        tenant: &str,
        node: Option<&str>,
    ) -> Result<Self, CliError> {
        let what = || format!("{}", state_file.display());
        let text = std::fs::read(state_file).context(format_args!("cannot read {}", what()))?;
        let s: State = serde_json::from_slice(&text).context(what())?;
        let key = |k: &str| b64().decode(k.as_bytes()).context(what());
        let keys = EmulatorKeys::new(key(&s.service_account_key)?, key(&s.issuer_key)?);
        let emu = Emulator::start_on(s.listen, &keys)
            .await
            .context(format_args!("the simulated Google on {}", s.listen))?;
        let tenant_id = mdmkit::TenantId::new(tenant).context("--tenant")?;
        let node_id = mdmkit::policy::NodeId::new(node.unwrap_or(tenant)).context("--node")?;
        let data = EnrollmentBinding::new(tenant_id, node_id).to_data();
        let token = emu.create_enrollment_token(&s.enterprise, &data);
        Ok(Self {
            emu,
            enterprise: s.enterprise,
            audience: s.audience,
            token,
            messages: AtomicU64::new(0),
        })
    }

    async fn push(
        &self,
        http: &Http,
        kind: &str,
        data: &serde_json::Value,
        timed: Timed,
        stats: &mut Stats,
    ) -> Result<(), SimError> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
        let id = self.messages.fetch_add(1, Ordering::Relaxed) + 1;
        let body = envelope(
            kind,
            data.to_string().as_bytes(),
            &id.to_string(),
            "projects/mdmkit-simulate/subscriptions/amapi",
        );
        let req = http
            .client
            .post(format!("{}/{}/android/pubsub", http.base, http.tenant))
            .bearer_auth(self.emu.push_token(&self.audience, now))
            .header("content-type", "application/json")
            .body(body);
        http.send(req, timed, stats).await.map(|_| ())
    }
}

/// A simulated Android tablet.
pub(crate) struct AndroidDevice {
    /// Its AMAPI name (`enterprises/E/devices/ID`), its id in mdmkit.
    pub(crate) name: String,
    /// The `ID` part.
    pub(crate) device_id: String,
}

impl AndroidDevice {
    /// A tablet of the simulated enterprise.
    pub(crate) fn new(google: &Google, device_id: &str) -> Self {
        Self {
            name: format!("{}/devices/{device_id}", google.enterprise),
            device_id: device_id.to_owned(),
        }
    }

    fn serial(&self) -> String {
        let tail: String = self.device_id.chars().rev().take(8).collect();
        format!("R9SIM{}", tail.chars().rev().collect::<String>())
    }

    /// Known to the simulated Google again (a device of a fleet file: the
    /// emulator keeps its resources in memory only), without a push.
    pub(crate) fn reappear(&self, google: &Google) -> Result<(), SimError> {
        google
            .emu
            .enroll(&google.token, &self.device_id, &self.serial())
            .map(|_| ())
            .ok_or_else(|| SimError::Answer("the enrollment token is unknown".into()))
    }

    /// Scans the token's QR code: Google creates the device and tells the
    /// server (ENROLLMENT), which patches its policy.
    pub(crate) async fn enroll(
        &self,
        http: &Http,
        google: &Google,
        stats: &mut Stats,
    ) -> Result<(), SimError> {
        let device = google
            .emu
            .enroll(&google.token, &self.device_id, &self.serial())
            .ok_or_else(|| SimError::Answer("the enrollment token is unknown".into()))?;
        google
            .push(
                http,
                "ENROLLMENT",
                &device,
                Timed::new("android.enrollment", Phase::Enroll),
                stats,
            )
            .await
    }

    /// Applies the policy Google holds for it and reports (STATUS_REPORT).
    pub(crate) async fn session(
        &self,
        http: &Http,
        google: &Google,
        stats: &mut Stats,
    ) -> Result<(), SimError> {
        let report = google
            .emu
            .status_report(&self.name, &[])
            .ok_or_else(|| SimError::Answer(format!("Google does not know {}", self.name)))?;
        google
            .push(
                http,
                "STATUS_REPORT",
                &report,
                Timed::new("android.status_report", Phase::Checkin),
                stats,
            )
            .await
    }
}
