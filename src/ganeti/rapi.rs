//! The typed Ganeti RAPI client (remote API version 2, Ganeti 2.x/3.x).
//!
//! Owns: HTTPS to the cluster's RAPI daemon (certificate verified or pinned,
//! see `tls`), basic auth, the typed answers of the resources snf-upgrade
//! needs, job polling with backoff and the classification of job failures
//! (rapi.rst, "error classification"). It is built from plain configuration
//! (`RapiConfig`), not from inventory types.
//!
//! Never: disables certificate verification, logs or prints the password,
//! retries a job by itself (the caller decides from `FailureKind`).
//!
//! Ganeti's RAPI has no resource for `gnt-cluster verify`; that one runs on
//! the master over SSH (the `remote` module), not here.
//!
//! Async (reqwest's async client over the same rustls verifier): every
//! request and every job wait is a future; the command layer owns the one
//! runtime they run on.

use std::fmt;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// How to reach one cluster's RAPI. Plain data so any caller (inventory,
/// tests, the CLI) can build it.
#[derive(Debug, Clone)]
pub struct RapiConfig {
    /// Base URL, `https://cluster.example.org:5080`.
    pub url: String,
    /// Connect to this address instead of resolving the URL's host name; the
    /// name is still what TLS checks and what `Host:` says.
    pub connect_address: Option<IpAddr>,
    /// PEM with the CA certificate(s) the server certificate must chain to,
    /// or the server's own self-signed certificate (then it is pinned).
    /// `None`: the system's CA bundle.
    pub ca_pem: Option<PathBuf>,
    /// Basic-auth user and password; `None` for a RAPI without
    /// `--require-authentication` (read-only use only).
    pub credentials: Option<Credentials>,
    /// Timeout of one HTTP request (not of a job).
    pub timeout: Duration,
}

impl RapiConfig {
    /// A configuration with the defaults: system CAs, no credentials, 30 s.
    pub fn new(url: impl Into<String>) -> Self {
        RapiConfig {
            url: url.into(),
            connect_address: None,
            ca_pem: None,
            credentials: None,
            timeout: Duration::from_secs(30),
        }
    }
}

/// RAPI user and password. The password never appears in `Debug` output or
/// error messages.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    user: String,
    password: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("user", &self.user)
            .field("password", &"<redacted>")
            .finish()
    }
}

impl Credentials {
    /// Parses `user:password` (first line only, surrounding whitespace
    /// dropped). `origin` names where the text came from, for the error.
    pub fn parse(text: &str, origin: &str) -> Result<Self, RapiError> {
        let line = text.lines().next().unwrap_or("").trim();
        match line.split_once(':') {
            Some((user, password)) if !user.is_empty() && !password.is_empty() => Ok(Credentials {
                user: user.to_string(),
                password: password.to_string(),
            }),
            _ => Err(RapiError::Credentials {
                origin: origin.to_string(),
                reason: "expected one line \"user:password\"".into(),
            }),
        }
    }

    /// Reads `user:password` from a file, which only its owner may read (as
    /// ssh refuses a private key others can read).
    pub fn from_file(path: &Path) -> Result<Self, RapiError> {
        let origin = path.display().to_string();
        let credentials_error = |reason| RapiError::Credentials {
            origin: origin.clone(),
            reason,
        };
        crate::fsutil::owner_only(path).map_err(credentials_error)?;
        let text = std::fs::read_to_string(path)
            .map_err(|e| credentials_error(format!("cannot read: {e}")))?;
        Self::parse(&text, &origin)
    }

    /// Reads `user:password` from an environment variable.
    pub fn from_env(var: &str) -> Result<Self, RapiError> {
        let origin = format!("environment variable {var}");
        let text = std::env::var(var).map_err(|_| RapiError::Credentials {
            origin: origin.clone(),
            reason: "is not set".into(),
        })?;
        Self::parse(&text, &origin)
    }

    /// The user name (safe to show).
    pub fn user(&self) -> &str {
        &self.user
    }
}

/// What went wrong talking to RAPI.
#[derive(Debug, thiserror::Error)]
pub enum RapiError {
    /// The configuration cannot work (bad URL, unreadable CA file, ...).
    #[error("RAPI configuration: {0}")]
    Config(String),
    /// Credentials missing or malformed.
    #[error("RAPI credentials from {origin}: {reason}")]
    Credentials { origin: String, reason: String },
    /// No HTTP answer: connection refused, timeout, TLS verification failed.
    #[error("cannot talk to RAPI at {url}: {reason}")]
    Transport { url: String, reason: String },
    /// RAPI answered with an error status.
    #[error("RAPI {method} {path} answered {status}: {message}")]
    Http {
        method: &'static str,
        path: String,
        status: u16,
        message: String,
    },
    /// The answer is not what this client understands.
    #[error("RAPI {path}: unexpected answer: {reason}")]
    Decode { path: String, reason: String },
    /// A job ended in error or was canceled.
    #[error("{0}")]
    JobFailed(JobFailure),
    /// A job did not finish in time; it may still be running.
    #[error("job {id} not finished after {waited:?} (status {status}); it may still be running")]
    JobTimeout {
        id: JobId,
        waited: Duration,
        status: String,
    },
}

/// HTTP methods RAPI uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
    Get,
    Put,
    Post,
    Delete,
}

impl Method {
    fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Put => "PUT",
            Method::Post => "POST",
            Method::Delete => "DELETE",
        }
    }
}

/// The future a `Transport` returns (boxed: the trait is used as an object).
pub type CallFuture<'a> = Pin<Box<dyn Future<Output = Result<Value, RapiError>> + Send + 'a>>;

/// Moves one request to RAPI and back. The HTTPS implementation is
/// `HttpTransport`; tests replay recorded answers through the same trait.
pub trait Transport: Send + Sync {
    /// Sends `method path` (path with query, starting with `/`), with a JSON
    /// body if any, and returns the decoded JSON answer of a 2xx status.
    fn call<'a>(&'a self, method: Method, path: &'a str, body: Option<&'a Value>)
        -> CallFuture<'a>;
}

/// HTTPS transport with reqwest and rustls.
pub struct HttpTransport {
    client: reqwest::Client,
    base: String,
    credentials: Option<Credentials>,
}

impl HttpTransport {
    /// Builds the HTTPS client: TLS trust from `ca_pem` (pin or chain),
    /// `connect_address` instead of DNS when given.
    pub fn new(config: &RapiConfig) -> Result<Self, RapiError> {
        let url = reqwest::Url::parse(&config.url)
            .map_err(|e| RapiError::Config(format!("bad URL {:?}: {e}", config.url)))?;
        if url.scheme() != "https" {
            return Err(RapiError::Config(format!(
                "{} is not https://; RAPI is only spoken over verified TLS",
                config.url
            )));
        }
        let host = url
            .host_str()
            .ok_or_else(|| RapiError::Config(format!("{} has no host", config.url)))?
            .to_string();
        let port = url.port_or_known_default().unwrap_or(5080);
        let tls = super::tls::client_config(config.ca_pem.as_deref()).map_err(RapiError::Config)?;
        let mut builder = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .https_only(true)
            .timeout(config.timeout)
            .connect_timeout(config.timeout.min(Duration::from_secs(10)))
            .user_agent(concat!("snf-upgrade/", env!("CARGO_PKG_VERSION")));
        if let Some(addr) = config.connect_address {
            builder = builder.resolve(&host, SocketAddr::new(addr, port));
        }
        let client = builder
            .build()
            .map_err(|e| RapiError::Config(format!("HTTPS client: {e}")))?;
        Ok(HttpTransport {
            client,
            base: config.url.trim_end_matches('/').to_string(),
            credentials: config.credentials.clone(),
        })
    }
}

/// The error text of reqwest plus its causes (the TLS reason is a cause).
fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

impl Transport for HttpTransport {
    fn call<'a>(
        &'a self,
        method: Method,
        path: &'a str,
        body: Option<&'a Value>,
    ) -> CallFuture<'a> {
        Box::pin(self.send(method, path, body))
    }
}

impl HttpTransport {
    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, RapiError> {
        let url = format!("{}{}", self.base, path);
        let mut request = match method {
            Method::Get => self.client.get(&url),
            Method::Put => self.client.put(&url),
            Method::Post => self.client.post(&url),
            Method::Delete => self.client.delete(&url),
        };
        if let Some(c) = &self.credentials {
            request = request.basic_auth(&c.user, Some(&c.password));
        }
        // RAPI refuses bodies without this content type (415).
        if let Some(body) = body {
            request = request
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body.to_string());
        }
        tracing::debug!(method = method.as_str(), path, "RAPI request");
        let response = request.send().await.map_err(|e| RapiError::Transport {
            url: self.base.clone(),
            reason: error_chain(&e),
        })?;
        let status = response.status().as_u16();
        let text = response.text().await.map_err(|e| RapiError::Transport {
            url: self.base.clone(),
            reason: error_chain(&e),
        })?;
        if !(200..300).contains(&status) {
            return Err(RapiError::Http {
                method: method.as_str(),
                path: path.to_string(),
                status,
                message: http_error_message(&text),
            });
        }
        serde_json::from_str(&text).map_err(|e| RapiError::Decode {
            path: path.to_string(),
            reason: format!("not JSON: {e}"),
        })
    }
}

/// RAPI error bodies are `{"code": 404, "message": "...", "explain": "..."}`.
fn http_error_message(body: &str) -> String {
    if let Ok(v) = serde_json::from_str::<Value>(body) {
        let message = v.get("message").and_then(Value::as_str).unwrap_or("");
        let explain = v.get("explain").and_then(Value::as_str).unwrap_or("");
        if !message.is_empty() || !explain.is_empty() {
            return [message, explain]
                .iter()
                .filter(|s| !s.is_empty())
                .cloned()
                .collect::<Vec<_>>()
                .join(": ");
        }
    }
    body.chars().take(200).collect()
}

/// A Ganeti job id.
pub type JobId = u64;

/// `/2/info`, the fields snf-upgrade uses.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct ClusterInfo {
    pub name: String,
    pub master: String,
    pub software_version: String,
    #[serde(default)]
    pub protocol_version: Option<u64>,
    #[serde(default)]
    pub candidate_pool_size: Option<u64>,
    #[serde(default)]
    pub enabled_hypervisors: Vec<String>,
    #[serde(default)]
    pub enabled_disk_templates: Vec<String>,
    /// The cluster's instance policy (`vcpu-ratio`, `disk-templates`, ...).
    #[serde(default)]
    pub ipolicy: Option<Value>,
    #[serde(default)]
    pub tags: Vec<String>,
}

/// One node of `/2/nodes?bulk=1`. Resource fields are `None` when the node
/// is offline or its daemon did not answer.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct NodeInfo {
    pub name: String,
    #[serde(default)]
    pub uuid: Option<String>,
    /// Primary IP address (what `inventory discover` writes as `address`).
    #[serde(default)]
    pub pip: Option<String>,
    #[serde(default)]
    pub mtotal: Option<u64>,
    #[serde(default)]
    pub mnode: Option<u64>,
    #[serde(default)]
    pub mfree: Option<u64>,
    #[serde(default)]
    pub dtotal: Option<u64>,
    #[serde(default)]
    pub dfree: Option<u64>,
    #[serde(default)]
    pub ctotal: Option<u64>,
    #[serde(default)]
    pub cnodes: Option<u64>,
    #[serde(default)]
    pub offline: bool,
    #[serde(default)]
    pub drained: bool,
    #[serde(default)]
    pub master_candidate: bool,
    #[serde(default)]
    pub vm_capable: Option<bool>,
    /// `M` master, `C` candidate, `R` regular, `D` drained, `O` offline.
    #[serde(default)]
    pub role: Option<String>,
    /// The node group's UUID.
    #[serde(default)]
    pub group: Option<String>,
    #[serde(rename = "group.uuid", default)]
    pub group_uuid: Option<String>,
    #[serde(default)]
    pub pinst_list: Vec<String>,
    #[serde(default)]
    pub sinst_list: Vec<String>,
    #[serde(default)]
    pub tags: Vec<String>,
}

/// One instance of `/2/instances?bulk=1`.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct InstanceInfo {
    pub name: String,
    #[serde(default)]
    pub uuid: Option<String>,
    /// `running`, `ADMIN_down`, `ERROR_down`, `ERROR_nodedown`, ...
    pub status: String,
    #[serde(default)]
    pub admin_state: Option<String>,
    /// `true` running, `false` stopped, `null` unknown (node down).
    #[serde(default)]
    pub oper_state: Option<bool>,
    /// Memory in use (MiB) when running, else `null` or `"-"`.
    #[serde(default)]
    pub oper_ram: Option<Value>,
    #[serde(default)]
    pub oper_vcpus: Option<Value>,
    pub pnode: String,
    #[serde(default)]
    pub snodes: Vec<String>,
    pub disk_template: String,
    #[serde(rename = "disk.sizes", default)]
    pub disk_sizes: Vec<u64>,
    #[serde(default)]
    pub beparams: Value,
    #[serde(default)]
    pub tags: Vec<String>,
}

impl InstanceInfo {
    /// Memory the instance accounts for, as htools takes it: `oper_ram`
    /// when numeric, else the maximum memory of its beparams.
    pub fn memory(&self) -> u64 {
        self.oper_ram
            .as_ref()
            .and_then(Value::as_u64)
            .or_else(|| self.beparams.get("maxmem").and_then(Value::as_u64))
            .or_else(|| self.beparams.get("memory").and_then(Value::as_u64))
            .unwrap_or(0)
    }

    /// Virtual CPUs: `oper_vcpus` when numeric, else beparams.
    pub fn vcpus(&self) -> u64 {
        self.oper_vcpus
            .as_ref()
            .and_then(Value::as_u64)
            .or_else(|| self.beparams.get("vcpus").and_then(Value::as_u64))
            .unwrap_or(1)
    }
}

/// One node group of `/2/groups?bulk=1`.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct GroupInfo {
    pub name: String,
    pub uuid: String,
    #[serde(default)]
    pub alloc_policy: Option<String>,
    #[serde(default)]
    pub ipolicy: Option<Value>,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub node_list: Vec<String>,
}

/// A node's role as `/2/nodes/NAME/role` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NodeRole {
    Master,
    MasterCandidate,
    Regular,
    Drained,
    Offline,
}

impl NodeRole {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            NodeRole::Master => "master",
            NodeRole::MasterCandidate => "master-candidate",
            NodeRole::Regular => "regular",
            NodeRole::Drained => "drained",
            NodeRole::Offline => "offline",
        }
    }
}

/// What `evacuate` moves off a node (OP_NODE_EVACUATE's `mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EvacuateMode {
    /// Primary instances only (`primary-only`).
    Primary,
    /// Secondary instances only (`secondary-only`).
    Secondary,
    /// Both (`all`).
    All,
}

impl EvacuateMode {
    fn as_str(self) -> &'static str {
        match self {
            EvacuateMode::Primary => "primary-only",
            EvacuateMode::Secondary => "secondary-only",
            EvacuateMode::All => "all",
        }
    }
}

/// A job's status (`/2/jobs/ID` `status`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobStatus {
    Queued,
    Waiting,
    Canceling,
    Running,
    Success,
    Error,
    Canceled,
    /// A status this client does not know; treated as not finished.
    Other(String),
}

impl JobStatus {
    fn parse(s: &str) -> Self {
        match s {
            "queued" => JobStatus::Queued,
            "waiting" => JobStatus::Waiting,
            "canceling" => JobStatus::Canceling,
            "running" => JobStatus::Running,
            "success" => JobStatus::Success,
            "error" => JobStatus::Error,
            "canceled" => JobStatus::Canceled,
            other => JobStatus::Other(other.to_string()),
        }
    }

    /// Whether the job will not change any more.
    pub fn is_final(&self) -> bool {
        matches!(
            self,
            JobStatus::Success | JobStatus::Error | JobStatus::Canceled
        )
    }

    fn as_str(&self) -> &str {
        match self {
            JobStatus::Queued => "queued",
            JobStatus::Waiting => "waiting",
            JobStatus::Canceling => "canceling",
            JobStatus::Running => "running",
            JobStatus::Success => "success",
            JobStatus::Error => "error",
            JobStatus::Canceled => "canceled",
            JobStatus::Other(s) => s,
        }
    }
}

/// One job as `/2/jobs/ID` returns it.
#[derive(Debug, Clone)]
pub struct Job {
    pub id: JobId,
    pub status: JobStatus,
    /// Per opcode: `success`, `error`, `canceled`, ...
    pub opstatus: Vec<String>,
    /// Per opcode: its result, or `[error type, [message, class?]]`.
    pub opresult: Vec<Value>,
    /// Opcode ids (`OP_NODE_MIGRATE`, ...), for messages.
    pub op_ids: Vec<String>,
    /// Per opcode, what it acts on (`instance_name` or `node_name`), so a
    /// caller can tell which of the jobs in flight concern an instance.
    pub op_targets: Vec<String>,
}

impl Job {
    fn from_value(value: &Value, path: &str) -> Result<Self, RapiError> {
        let decode = |reason: &str| RapiError::Decode {
            path: path.to_string(),
            reason: reason.to_string(),
        };
        let id = job_id_of(value.get("id").unwrap_or(&Value::Null))
            .ok_or_else(|| decode("job without id"))?;
        let status = value
            .get("status")
            .and_then(Value::as_str)
            .ok_or_else(|| decode("job without status"))?;
        let strings = |key: &str| -> Vec<String> {
            value
                .get(key)
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .map(|v| v.as_str().map(str::to_string).unwrap_or_default())
                        .collect()
                })
                .unwrap_or_default()
        };
        let op_ids = value
            .get("ops")
            .and_then(Value::as_array)
            .map(|ops| {
                ops.iter()
                    .map(|op| {
                        op.get("OP_ID")
                            .and_then(Value::as_str)
                            .unwrap_or("")
                            .to_string()
                    })
                    .collect()
            })
            .unwrap_or_default();
        let op_targets = value
            .get("ops")
            .and_then(Value::as_array)
            .map(|ops| {
                ops.iter()
                    .map(|op| {
                        ["instance_name", "node_name"]
                            .iter()
                            .find_map(|k| op.get(*k).and_then(Value::as_str))
                            .unwrap_or("")
                            .to_string()
                    })
                    .collect()
            })
            .unwrap_or_default();
        Ok(Job {
            id,
            op_targets,
            status: JobStatus::parse(status),
            opstatus: strings("opstatus"),
            opresult: value
                .get("opresult")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default(),
            op_ids,
        })
    }

    /// The first failed opcode's error, classified; `None` unless the job
    /// ended in error or was canceled.
    pub fn failure(&self) -> Option<JobFailure> {
        match self.status {
            JobStatus::Error => {}
            JobStatus::Canceled => {
                return Some(JobFailure {
                    job: self.id,
                    opcode: self.op_ids.first().cloned().unwrap_or_default(),
                    error_type: "canceled".into(),
                    message: "the job was canceled".into(),
                    kind: FailureKind::Canceled,
                })
            }
            _ => return None,
        }
        let index = self.opstatus.iter().position(|s| s == "error").unwrap_or(0);
        let result = self.opresult.get(index).cloned().unwrap_or(Value::Null);
        let (error_type, message, code) = parse_op_error(&result);
        Some(JobFailure {
            job: self.id,
            opcode: self.op_ids.get(index).cloned().unwrap_or_default(),
            kind: FailureKind::classify(&error_type, code.as_deref()),
            error_type,
            message,
        })
    }

    /// Jobs this job submitted (node migrate and evacuate answer with one
    /// child job per instance): `Ok(id)` per submitted job, `Err(message)`
    /// per job Ganeti could not submit.
    pub fn child_jobs(&self) -> Vec<Result<JobId, String>> {
        let mut out = Vec::new();
        for result in &self.opresult {
            let Some(jobs) = result.get("jobs").and_then(Value::as_array) else {
                continue;
            };
            for entry in jobs {
                let ok = entry.get(0).and_then(Value::as_bool).unwrap_or(false);
                let payload = entry.get(1).unwrap_or(&Value::Null);
                if ok {
                    match job_id_of(payload) {
                        Some(id) => out.push(Ok(id)),
                        None => out.push(Err(format!("unreadable child job id {payload}"))),
                    }
                } else {
                    out.push(Err(payload
                        .as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| payload.to_string())));
                }
            }
        }
        out
    }
}

/// Job ids are numbers in Ganeti ≥ 2.x answers, strings in some older ones.
fn job_id_of(v: &Value) -> Option<JobId> {
    v.as_u64()
        .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
}

/// `["OpPrereqError", ["message", "wrong_state"]]` → parts.
fn parse_op_error(result: &Value) -> (String, String, Option<String>) {
    let error_type = result
        .get(0)
        .and_then(Value::as_str)
        .unwrap_or("unknown error")
        .to_string();
    let args = result.get(1);
    let (message, code) = match args {
        Some(Value::Array(parts)) => (
            parts
                .first()
                .map(|m| {
                    m.as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| m.to_string())
                })
                .unwrap_or_default(),
            parts.get(1).and_then(Value::as_str).map(str::to_string),
        ),
        Some(Value::String(s)) => (s.clone(), None),
        Some(other) => (other.to_string(), None),
        None => (result.to_string(), None),
    };
    (error_type, message, code)
}

/// Ganeti's error classification (rapi.rst, `ECODE_*` of lib/errors.py),
/// deciding whether a failed operation may be tried again. Ganeti attaches
/// a class to `OpPrereqError` (raised before the opcode changed anything);
/// its free-memory check raises `insufficient_resources`, which no retry
/// fixes. Recorded from the lab: tests/fixtures/rapi/lab/job-error-*.json.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    /// `temp_insufficient_resources`: try again after some time (Ganeti
    /// raises it for opportunistic locking and mostly retries it itself).
    TemporaryNoResources,
    /// `insufficient_resources`: only if resources grow.
    NoResources,
    /// `resolver_error`: a name does not resolve (yet).
    Resolver,
    /// `wrong_input`: never accepted with these arguments.
    InvalidInput,
    /// `wrong_state`: retry once the node or instance changed state.
    WrongState,
    /// `unknown_entity`: no such node or instance.
    NotFound,
    /// `already_exists`.
    AlreadyExists,
    /// `resource_not_unique`.
    NotUnique,
    /// `internal_error`: cluster fault; run `gnt-cluster verify`.
    Fault,
    /// `environment_error`: e.g. a node disk error; run `gnt-cluster verify`.
    Environment,
    /// The job was canceled.
    Canceled,
    /// An execution error (`OpExecError`, ...) without classification:
    /// something failed half-way; look before retrying.
    Unclassified,
}

impl FailureKind {
    /// The kind of an opcode error of type `error_type` (`OpPrereqError`,
    /// `OpExecError`, ...) with Ganeti's class `code`. A class counts only
    /// on `OpPrereqError`: any other error may have happened half-way, and
    /// nothing may be retried before someone looked.
    fn classify(error_type: &str, code: Option<&str>) -> Self {
        if error_type != "OpPrereqError" {
            return FailureKind::Unclassified;
        }
        match code {
            Some("temp_insufficient_resources") => FailureKind::TemporaryNoResources,
            Some("insufficient_resources") => FailureKind::NoResources,
            Some("resolver_error") => FailureKind::Resolver,
            Some("wrong_input") => FailureKind::InvalidInput,
            Some("wrong_state") => FailureKind::WrongState,
            Some("unknown_entity") => FailureKind::NotFound,
            Some("already_exists") => FailureKind::AlreadyExists,
            Some("resource_not_unique") => FailureKind::NotUnique,
            Some("internal_error") => FailureKind::Fault,
            Some("environment_error") => FailureKind::Environment,
            _ => FailureKind::Unclassified,
        }
    }

    /// Whether simply trying again later can succeed without anyone acting.
    pub fn is_transient(self) -> bool {
        matches!(
            self,
            FailureKind::TemporaryNoResources | FailureKind::Resolver
        )
    }

    /// Whether the same request can never succeed.
    pub fn is_permanent(self) -> bool {
        matches!(
            self,
            FailureKind::InvalidInput
                | FailureKind::NotFound
                | FailureKind::AlreadyExists
                | FailureKind::NotUnique
        )
    }
}

/// A failed job, classified.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct JobFailure {
    pub job: JobId,
    pub opcode: String,
    /// Ganeti's error type, e.g. `OpPrereqError`.
    pub error_type: String,
    pub message: String,
    pub kind: FailureKind,
}

impl fmt::Display for JobFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "job {} ({}) failed: {}: {}",
            self.job, self.opcode, self.error_type, self.message
        )?;
        if self.kind.is_transient() {
            write!(f, " (temporary; may be retried later)")?;
        } else if self.kind.is_permanent() {
            write!(f, " (permanent)")?;
        }
        Ok(())
    }
}

/// How to wait for a job.
#[derive(Debug, Clone, Copy)]
pub struct WaitOptions {
    /// First pause between polls; doubles up to `max_interval`.
    pub first_interval: Duration,
    pub max_interval: Duration,
    /// Give up (the job keeps running) after this long.
    pub timeout: Duration,
}

impl Default for WaitOptions {
    fn default() -> Self {
        WaitOptions {
            first_interval: Duration::from_millis(250),
            max_interval: Duration::from_secs(5),
            timeout: Duration::from_secs(30 * 60),
        }
    }
}

/// The client: one per cluster.
pub struct RapiClient {
    transport: Box<dyn Transport>,
}

/// Percent-encodes a node or instance name for a path segment.
fn seg(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl RapiClient {
    /// A client speaking HTTPS as `config` says.
    pub fn new(config: &RapiConfig) -> Result<Self, RapiError> {
        Ok(RapiClient {
            transport: Box::new(HttpTransport::new(config)?),
        })
    }

    /// A client over any transport (recorded answers in tests).
    pub fn with_transport(transport: Box<dyn Transport>) -> Self {
        RapiClient { transport }
    }

    async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, RapiError> {
        let value = self.transport.call(Method::Get, path, None).await?;
        serde_json::from_value(value).map_err(|e| RapiError::Decode {
            path: path.to_string(),
            reason: e.to_string(),
        })
    }

    async fn submit(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<JobId, RapiError> {
        let value = self.transport.call(method, path, body.as_ref()).await?;
        job_id_of(&value).ok_or_else(|| RapiError::Decode {
            path: path.to_string(),
            reason: format!("expected a job id, got {value}"),
        })
    }

    /// `GET /version`: the RAPI version (2).
    pub async fn version(&self) -> Result<u64, RapiError> {
        self.get("/version").await
    }

    /// `GET /2/info`.
    pub async fn info(&self) -> Result<ClusterInfo, RapiError> {
        self.get("/2/info").await
    }

    /// `GET /2/nodes?bulk=1`.
    pub async fn nodes(&self) -> Result<Vec<NodeInfo>, RapiError> {
        self.get("/2/nodes?bulk=1").await
    }

    /// `GET /2/instances?bulk=1`.
    pub async fn instances(&self) -> Result<Vec<InstanceInfo>, RapiError> {
        self.get("/2/instances?bulk=1").await
    }

    /// `GET /2/groups?bulk=1`.
    pub async fn groups(&self) -> Result<Vec<GroupInfo>, RapiError> {
        self.get("/2/groups?bulk=1").await
    }

    /// `GET /2/nodes/NAME/role`.
    pub async fn node_role(&self, node: &str) -> Result<NodeRole, RapiError> {
        self.get(&format!("/2/nodes/{}/role", seg(node))).await
    }

    /// `PUT /2/nodes/NAME/role`: drain, undrain (`Regular`), promote to
    /// master candidate... `force` is needed to promote beyond the pool size.
    pub async fn set_node_role(
        &self,
        node: &str,
        role: NodeRole,
        force: bool,
    ) -> Result<JobId, RapiError> {
        let query = if force { "?force=1" } else { "" };
        self.submit(
            Method::Put,
            &format!("/2/nodes/{}/role{query}", seg(node)),
            Some(json!(role.as_str())),
        )
        .await
    }

    /// `POST /2/nodes/NAME/migrate` in live mode: every primary instance of
    /// the node migrates (DRBD ones to their secondary; externally mirrored
    /// ones to `target`, or where the iallocator says). The job's result
    /// lists one child job per instance: wait with `wait_job_tree`.
    pub async fn migrate_node(&self, node: &str, target: Option<&str>) -> Result<JobId, RapiError> {
        let mut body = json!({"mode": "live"});
        if let Some(t) = target {
            body["target_node"] = json!(t);
        }
        self.submit(
            Method::Post,
            &format!("/2/nodes/{}/migrate", seg(node)),
            Some(body),
        )
        .await
    }

    /// `POST /2/nodes/NAME/evacuate`: moves instances off the node (for
    /// secondaries this is a replace-disks, not a migration). Child jobs as
    /// for `migrate_node`. `remote_node` or the cluster's iallocator picks
    /// the destination.
    pub async fn evacuate_node(
        &self,
        node: &str,
        mode: EvacuateMode,
        remote_node: Option<&str>,
    ) -> Result<JobId, RapiError> {
        let mut body = json!({"mode": mode.as_str(), "early_release": false});
        if let Some(r) = remote_node {
            body["remote_node"] = json!(r);
        }
        self.submit(
            Method::Post,
            &format!("/2/nodes/{}/evacuate", seg(node)),
            Some(body),
        )
        .await
    }

    /// `PUT /2/instances/NAME/migrate` live. `target` only for externally
    /// mirrored instances; a DRBD instance always goes to its secondary.
    pub async fn migrate_instance(
        &self,
        instance: &str,
        target: Option<&str>,
    ) -> Result<JobId, RapiError> {
        // Never a failover: that would stop the instance.
        let mut body = json!({"mode": "live", "cleanup": false, "allow_failover": false});
        if let Some(t) = target {
            body["target_node"] = json!(t);
        }
        self.submit(
            Method::Put,
            &format!("/2/instances/{}/migrate", seg(instance)),
            Some(body),
        )
        .await
    }

    /// `PUT /2/instances/NAME/shutdown` (the offline path only).
    pub async fn shutdown_instance(
        &self,
        instance: &str,
        timeout_s: Option<u64>,
    ) -> Result<JobId, RapiError> {
        let body = match timeout_s {
            Some(t) => json!({"timeout": t}),
            None => json!({}),
        };
        self.submit(
            Method::Put,
            &format!("/2/instances/{}/shutdown", seg(instance)),
            Some(body),
        )
        .await
    }

    /// `PUT /2/instances/NAME/startup`.
    pub async fn startup_instance(&self, instance: &str) -> Result<JobId, RapiError> {
        self.submit(
            Method::Put,
            &format!("/2/instances/{}/startup", seg(instance)),
            None,
        )
        .await
    }

    /// `GET /2/instances/NAME`.
    pub async fn instance(&self, instance: &str) -> Result<InstanceInfo, RapiError> {
        self.get(&format!("/2/instances/{}", seg(instance))).await
    }

    /// `GET /2/nodes/NAME`.
    pub async fn node(&self, node: &str) -> Result<NodeInfo, RapiError> {
        self.get(&format!("/2/nodes/{}", seg(node))).await
    }

    /// `GET /2/nodes/NAME/tags`.
    pub async fn node_tags(&self, node: &str) -> Result<Vec<String>, RapiError> {
        self.get(&format!("/2/nodes/{}/tags", seg(node))).await
    }

    /// `PUT /2/nodes/NAME/tags?tag=T`: adds one tag (a job).
    pub async fn add_node_tag(&self, node: &str, tag: &str) -> Result<JobId, RapiError> {
        self.submit(
            Method::Put,
            &format!("/2/nodes/{}/tags?tag={}", seg(node), seg(tag)),
            None,
        )
        .await
    }

    /// `DELETE /2/nodes/NAME/tags?tag=T`: removes one tag (a job).
    pub async fn remove_node_tag(&self, node: &str, tag: &str) -> Result<JobId, RapiError> {
        self.submit(
            Method::Delete,
            &format!("/2/nodes/{}/tags?tag={}", seg(node), seg(tag)),
            None,
        )
        .await
    }

    /// `GET /2/jobs?bulk=1`, keeping the jobs not yet finished: what a
    /// resumed run must re-attach to instead of submitting again.
    pub async fn jobs_in_flight(&self) -> Result<Vec<Job>, RapiError> {
        let path = "/2/jobs?bulk=1";
        let value = self.transport.call(Method::Get, path, None).await?;
        let list = value.as_array().ok_or_else(|| RapiError::Decode {
            path: path.to_string(),
            reason: "expected a list of jobs".into(),
        })?;
        let mut out = Vec::new();
        for v in list {
            let job = Job::from_value(v, path)?;
            if !job.status.is_final() {
                out.push(job);
            }
        }
        Ok(out)
    }

    /// `GET /2/jobs/ID`.
    pub async fn job(&self, id: JobId) -> Result<Job, RapiError> {
        let path = format!("/2/jobs/{id}");
        let value = self.transport.call(Method::Get, &path, None).await?;
        Job::from_value(&value, &path)
    }

    /// Polls a job until it ends, pausing `first_interval`, then twice as
    /// long each time up to `max_interval`. A job that ends in error or is
    /// canceled is `RapiError::JobFailed` with its classified failure.
    pub async fn wait_job(&self, id: JobId, options: WaitOptions) -> Result<Job, RapiError> {
        let started = Instant::now();
        let mut pause = options.first_interval;
        loop {
            let job = self.job(id).await?;
            if job.status.is_final() {
                return match job.failure() {
                    Some(failure) => Err(RapiError::JobFailed(failure)),
                    None => Ok(job),
                };
            }
            let waited = started.elapsed();
            if waited >= options.timeout {
                return Err(RapiError::JobTimeout {
                    id,
                    waited,
                    status: job.status.as_str().to_string(),
                });
            }
            tokio::time::sleep(pause.min(options.timeout - waited)).await;
            pause = (pause * 2).min(options.max_interval);
        }
    }

    /// Waits for a job and then for every job it submitted, recursively
    /// (node migrate/evacuate). Returns all jobs, the parent first. Waits for
    /// every child even after one failed, then reports the first failure.
    pub async fn wait_job_tree(
        &self,
        id: JobId,
        options: WaitOptions,
    ) -> Result<Vec<Job>, RapiError> {
        let mut done = Vec::new();
        let mut pending = vec![id];
        let mut first_error = None;
        while let Some(next) = pending.pop() {
            match self.wait_job(next, options).await {
                Ok(job) => {
                    for child in job.child_jobs() {
                        match child {
                            Ok(child) => pending.push(child),
                            Err(message) => {
                                first_error.get_or_insert(RapiError::JobFailed(JobFailure {
                                    job: job.id,
                                    opcode: job.op_ids.first().cloned().unwrap_or_default(),
                                    error_type: "child job not submitted".into(),
                                    message,
                                    kind: FailureKind::Unclassified,
                                }));
                            }
                        }
                    }
                    done.push(job);
                }
                Err(e @ RapiError::JobFailed(_)) => {
                    first_error.get_or_insert(e);
                }
                Err(e) => return Err(e),
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(done),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::sync::Mutex;

    /// Replays recorded answers: `(method, path)` → JSON values, served in
    /// order (the last one repeats), and records what was sent.
    #[derive(Default)]
    pub(crate) struct Recorded {
        answers: Mutex<HashMap<(Method, String), Vec<Value>>>,
        pub(crate) sent: Mutex<Vec<(Method, String, Option<Value>)>>,
    }

    impl Recorded {
        pub(crate) fn answer(self, method: Method, path: &str, value: Value) -> Self {
            self.answers
                .lock()
                .unwrap()
                .entry((method, path.to_string()))
                .or_default()
                .push(value);
            self
        }
    }

    impl Transport for std::sync::Arc<Recorded> {
        fn call<'a>(
            &'a self,
            method: Method,
            path: &'a str,
            body: Option<&'a Value>,
        ) -> CallFuture<'a> {
            Box::pin(std::future::ready(self.replay(method, path, body)))
        }
    }

    impl Recorded {
        fn replay(
            &self,
            method: Method,
            path: &str,
            body: Option<&Value>,
        ) -> Result<Value, RapiError> {
            self.sent
                .lock()
                .unwrap()
                .push((method, path.to_string(), body.cloned()));
            let mut answers = self.answers.lock().unwrap();
            let queue = answers
                .get_mut(&(method, path.to_string()))
                .ok_or_else(|| RapiError::Http {
                    method: method.as_str(),
                    path: path.to_string(),
                    status: 404,
                    message: "no recorded answer".into(),
                })?;
            Ok(if queue.len() > 1 {
                queue.remove(0)
            } else {
                queue[0].clone()
            })
        }
    }

    pub(crate) fn fixture(name: &str) -> Value {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/rapi")
            .join(name);
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    fn client(recorded: Recorded) -> (RapiClient, std::sync::Arc<Recorded>) {
        let shared = std::sync::Arc::new(recorded);
        (RapiClient::with_transport(Box::new(shared.clone())), shared)
    }

    const FAST: WaitOptions = WaitOptions {
        first_interval: Duration::from_millis(0),
        max_interval: Duration::from_millis(1),
        timeout: Duration::from_secs(5),
    };

    #[test]
    fn credentials_parse_and_never_show_the_password() {
        let c = Credentials::parse("lab:s3cret\n", "test").unwrap();
        assert_eq!(c.user(), "lab");
        let shown = format!("{c:?}");
        assert!(!shown.contains("s3cret"), "{shown}");
        for bad in ["", "nocolon", ":pw", "user:"] {
            let err = Credentials::parse(bad, "file x").unwrap_err().to_string();
            assert!(err.contains("file x"), "{err}");
        }
    }

    #[test]
    fn a_credentials_file_others_can_read_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("rapi.credentials");
        std::fs::write(&path, "lab:s3cret\n").unwrap();
        for mode in [0o644, 0o640, 0o604, 0o620] {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
            let err = Credentials::from_file(&path).unwrap_err().to_string();
            let shown = format!("mode {mode:04o}");
            assert!(err.contains(&path.display().to_string()), "{err}");
            assert!(err.contains(&shown) && err.contains("chmod 600"), "{err}");
            assert!(!err.contains("s3cret"), "{err}");
        }
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(Credentials::from_file(&path).unwrap().user(), "lab");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o400)).unwrap();
        assert_eq!(Credentials::from_file(&path).unwrap().user(), "lab");
    }

    #[test]
    fn credentials_from_env() {
        std::env::set_var("SNF_TEST_RAPI_CRED", "u:p");
        assert_eq!(
            Credentials::from_env("SNF_TEST_RAPI_CRED").unwrap().user(),
            "u"
        );
        let err = Credentials::from_env("SNF_TEST_RAPI_CRED_UNSET").unwrap_err();
        assert!(err.to_string().contains("is not set"));
    }

    #[test]
    fn plain_http_is_refused() {
        let err = HttpTransport::new(&RapiConfig::new("http://cluster:5080"))
            .err()
            .unwrap();
        assert!(err.to_string().contains("not https"), "{err}");
    }

    #[tokio::test]
    async fn reads_info_nodes_instances_groups() {
        let (c, _) = client(
            Recorded::default()
                .answer(Method::Get, "/2/info", fixture("info.json"))
                .answer(Method::Get, "/version", json!(2))
                .answer(Method::Get, "/2/nodes?bulk=1", fixture("nodes-bulk.json"))
                .answer(
                    Method::Get,
                    "/2/instances?bulk=1",
                    fixture("instances-bulk.json"),
                )
                .answer(Method::Get, "/2/groups?bulk=1", fixture("groups-bulk.json")),
        );
        assert_eq!(c.version().await.unwrap(), 2);
        let info = c.info().await.unwrap();
        assert_eq!(info.master, "node1.lab.test");
        assert!(info.software_version.starts_with("3.0"));
        let nodes = c.nodes().await.unwrap();
        assert_eq!(nodes.len(), 3);
        assert!(nodes.iter().any(|n| n.master_candidate));
        let instances = c.instances().await.unwrap();
        assert!(!instances.is_empty());
        assert!(instances.iter().all(|i| i.memory() > 0));
        assert!(!c.groups().await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn role_get_and_set_sends_json_string() {
        let (c, sent) = client(
            Recorded::default()
                .answer(
                    Method::Get,
                    "/2/nodes/node3.lab.test/role",
                    json!("regular"),
                )
                .answer(Method::Put, "/2/nodes/node3.lab.test/role", json!(17))
                .answer(
                    Method::Put,
                    "/2/nodes/node3.lab.test/role?force=1",
                    json!("18"),
                ),
        );
        assert_eq!(
            c.node_role("node3.lab.test").await.unwrap(),
            NodeRole::Regular
        );
        assert_eq!(
            c.set_node_role("node3.lab.test", NodeRole::Drained, false)
                .await
                .unwrap(),
            17
        );
        assert_eq!(
            c.set_node_role("node3.lab.test", NodeRole::MasterCandidate, true)
                .await
                .unwrap(),
            18
        );
        let sent = sent.sent.lock().unwrap();
        assert_eq!(sent[1].2, Some(json!("drained")));
        assert_eq!(sent[2].2, Some(json!("master-candidate")));
    }

    #[tokio::test]
    async fn node_migrate_follows_every_child_job() {
        let (c, sent) = client(
            Recorded::default()
                .answer(Method::Post, "/2/nodes/node2.lab.test/migrate", json!(20))
                .answer(Method::Get, "/2/jobs/20", fixture("job-running.json"))
                .answer(
                    Method::Get,
                    "/2/jobs/20",
                    fixture("job-node-migrate-success.json"),
                )
                .answer(
                    Method::Get,
                    "/2/jobs/21",
                    fixture("job-instance-migrate-success.json"),
                )
                .answer(
                    Method::Get,
                    "/2/jobs/22",
                    fixture("job-instance-migrate-success-22.json"),
                ),
        );
        let id = c.migrate_node("node2.lab.test", None).await.unwrap();
        let jobs = c.wait_job_tree(id, FAST).await.unwrap();
        let ids: Vec<JobId> = jobs.iter().map(|j| j.id).collect();
        assert_eq!(ids.len(), 3);
        assert!(ids.contains(&21) && ids.contains(&22));
        let sent = sent.sent.lock().unwrap();
        assert_eq!(sent[0].2, Some(json!({"mode": "live"})));
    }

    /// The failure of recorded job `file` (through the client's polling).
    async fn recorded_failure(file: &str) -> JobFailure {
        let answer = fixture(file);
        let id = answer["id"].as_u64().unwrap();
        let (c, _) =
            client(Recorded::default().answer(Method::Get, &format!("/2/jobs/{id}"), answer));
        match c.wait_job(id, FAST).await {
            Err(RapiError::JobFailed(f)) => f,
            other => panic!("{file}: {other:?}"),
        }
    }

    /// Failures Ganeti 3.0 produced in the lab
    /// (tests/fixtures/rapi/record-lab-failures), classified as Ganeti did.
    #[tokio::test]
    async fn failures_recorded_from_the_lab() {
        for (file, kind, permanent) in [
            (
                "lab/job-error-insufficient-resources.json",
                FailureKind::NoResources,
                false,
            ),
            (
                "lab/job-error-unknown-entity.json",
                FailureKind::NotFound,
                true,
            ),
            (
                "lab/job-error-wrong-input.json",
                FailureKind::InvalidInput,
                true,
            ),
            ("lab/job-45.json", FailureKind::WrongState, false),
        ] {
            let f = recorded_failure(file).await;
            assert_eq!(
                (f.kind, f.opcode.as_str()),
                (kind, "OP_INSTANCE_MIGRATE"),
                "{file}: {f}"
            );
            assert_eq!(f.error_type, "OpPrereqError");
            assert_eq!(f.kind.is_permanent(), permanent, "{file}");
            assert!(!f.kind.is_transient(), "{file}: {f}");
        }
        let f = recorded_failure("job-error-exec.json").await;
        assert_eq!(f.kind, FailureKind::Unclassified);
    }

    /// Ganeti raises a node short of memory as `insufficient_resources`
    /// (ECODE_NORES): waiting does not free memory, so no retry policy
    /// may take it for a temporary shortage.
    #[tokio::test]
    async fn a_memory_shortage_is_never_retried() {
        let f = recorded_failure("lab/job-error-insufficient-resources.json").await;
        assert!(
            f.message
                .starts_with("Not enough memory on node node3.lab.test"),
            "{f}"
        );
        assert_eq!(f.kind, FailureKind::NoResources);
        assert!(!f.kind.is_transient());
        assert!(!f.to_string().contains("temporary"), "{f}");
        // Only the two classes Ganeti documents as "try again later" are
        // transient, and only on an error raised before anything changed.
        let transient: Vec<_> = [
            "temp_insufficient_resources",
            "insufficient_resources",
            "resolver_error",
            "wrong_input",
            "wrong_state",
            "unknown_entity",
            "already_exists",
            "resource_not_unique",
            "internal_error",
            "environment_error",
        ]
        .into_iter()
        .filter(|code| FailureKind::classify("OpPrereqError", Some(code)).is_transient())
        .collect();
        assert_eq!(transient, ["temp_insufficient_resources", "resolver_error"]);
        for error_type in ["OpExecError", "OpRetryNotSupportedError", "HypervisorError"] {
            let kind = FailureKind::classify(error_type, Some("temp_insufficient_resources"));
            assert_eq!(kind, FailureKind::Unclassified, "{error_type}");
        }
    }

    #[tokio::test]
    async fn a_failed_child_job_fails_the_tree_after_all_were_waited() {
        let (c, sent) = client(
            Recorded::default()
                .answer(
                    Method::Get,
                    "/2/jobs/40",
                    fixture("job-node-migrate-two-children.json"),
                )
                .answer(
                    Method::Get,
                    "/2/jobs/41",
                    fixture("job-error-wrong-state-41.json"),
                )
                .answer(
                    Method::Get,
                    "/2/jobs/42",
                    fixture("job-instance-migrate-success-42.json"),
                ),
        );
        let err = c.wait_job_tree(40, FAST).await.unwrap_err();
        assert!(
            matches!(err, RapiError::JobFailed(ref f) if f.job == 41),
            "{err}"
        );
        let polled: Vec<String> = sent
            .sent
            .lock()
            .unwrap()
            .iter()
            .map(|s| s.1.clone())
            .collect();
        assert!(polled.contains(&"/2/jobs/42".to_string()));
    }

    #[tokio::test]
    async fn a_job_that_never_ends_times_out() {
        let (c, _) = client(Recorded::default().answer(
            Method::Get,
            "/2/jobs/20",
            fixture("job-running.json"),
        ));
        let options = WaitOptions {
            timeout: Duration::from_millis(20),
            first_interval: Duration::from_millis(5),
            max_interval: Duration::from_millis(5),
        };
        assert!(matches!(
            c.wait_job(20, options).await,
            Err(RapiError::JobTimeout { id: 20, .. })
        ));
    }

    #[tokio::test]
    async fn instance_migrate_body_and_name_escaping() {
        let (c, sent) = client(Recorded::default().answer(
            Method::Put,
            "/2/instances/web%201/migrate",
            json!(9),
        ));
        assert_eq!(
            c.migrate_instance("web 1", Some("node3.lab.test"))
                .await
                .unwrap(),
            9
        );
        let sent = sent.sent.lock().unwrap();
        assert_eq!(
            sent[0].2,
            Some(
                json!({"mode": "live", "cleanup": false, "allow_failover": false, "target_node": "node3.lab.test"})
            )
        );
    }

    /// Answers recorded from the lab's Ganeti 3.0 cluster (tests/lab.rs,
    /// SNF_RECORD_RAPI): a node migrate whose fourth child is a `file`
    /// instance that cannot migrate.
    #[tokio::test]
    async fn recorded_lab_jobs() {
        let (c, _) = client(
            Recorded::default()
                .answer(Method::Get, "/2/jobs/42", fixture("lab/job-42.json"))
                .answer(Method::Get, "/2/jobs/43", fixture("lab/job-43.json"))
                .answer(Method::Get, "/2/jobs/44", fixture("lab/job-44.json"))
                .answer(Method::Get, "/2/jobs/45", fixture("lab/job-45.json")),
        );
        let parent = c.job(43).await.unwrap();
        assert_eq!(parent.status, JobStatus::Success);
        assert_eq!(parent.op_ids, vec!["OP_NODE_MIGRATE"]);
        let children: Vec<JobId> = parent
            .child_jobs()
            .into_iter()
            .map(Result::unwrap)
            .collect();
        assert_eq!(children, vec![44, 45, 46, 47]);
        assert!(c.wait_job(44, FAST).await.is_ok());
        for id in [42, 45] {
            match c.wait_job(id, FAST).await {
                Err(RapiError::JobFailed(f)) => {
                    assert_eq!(f.kind, FailureKind::WrongState, "{f}");
                    assert_eq!(f.opcode, "OP_INSTANCE_MIGRATE");
                }
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn http_errors_carry_ganeti_message() {
        assert_eq!(
            http_error_message(
                r#"{"code": 404, "message": "Not Found", "explain": "Node x not known"}"#
            ),
            "Not Found: Node x not known"
        );
    }
}
