//! Typed errors, one per layer, each with a stable code and a retry decision.
//!
//! HTTP status codes are decided only at the API's edge (`api.rs`), from these codes.

/// An object-store (S3) failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The store could not be reached or answered with a server error or timeout.
    #[error("object store unavailable during {op}: {reason}")]
    Unavailable {
        /// The operation (`put`, `get`, …).
        op: &'static str,
        /// What the SDK said.
        reason: String,
    },
    /// The object does not exist.
    #[error("object {key} not found")]
    NotFound {
        /// Its key.
        key: String,
    },
    /// The store refused the request (credentials, bucket name, permissions).
    #[error("object store refused {op}: {reason}")]
    Refused {
        /// The operation.
        op: &'static str,
        /// What the store said.
        reason: String,
    },
}

impl StoreError {
    /// Stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            StoreError::Unavailable { .. } => "storage.unavailable",
            StoreError::NotFound { .. } => "storage.not_found",
            StoreError::Refused { .. } => "storage.refused",
        }
    }

    /// Whether trying again later could succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            StoreError::Unavailable { .. } => true,
            StoreError::NotFound { .. } | StoreError::Refused { .. } => false,
        }
    }
}

/// A message-broker (RabbitMQ) failure.
#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    /// Connecting, opening a channel or declaring topology failed.
    #[error("broker unavailable: {0}")]
    Unavailable(String),
    /// The broker negatively acknowledged a publish, or returned it as unroutable.
    #[error("broker did not confirm the publish to {target}: {reason}")]
    NotConfirmed {
        /// Exchange or queue.
        target: String,
        /// Nack, or the return's reply text.
        reason: String,
    },
}

impl From<lapin::Error> for BrokerError {
    fn from(e: lapin::Error) -> Self {
        BrokerError::Unavailable(e.to_string())
    }
}

impl BrokerError {
    /// Stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            BrokerError::Unavailable(_) => "broker.unavailable",
            BrokerError::NotConfirmed { .. } => "broker.not_confirmed",
        }
    }

    /// Whether trying again later could succeed (both are: the broker may come back).
    pub fn is_retryable(&self) -> bool {
        match self {
            BrokerError::Unavailable(_) | BrokerError::NotConfirmed { .. } => true,
        }
    }
}

/// Why one job could not be completed.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// The message is not a valid job.
    #[error("malformed job message: {0}")]
    Malformed(String),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The broker failed.
    #[error(transparent)]
    Broker(#[from] BrokerError),
    /// The check engine failed (a system error; bad photos are `fail` results, not errors).
    #[error("check engine error {code}: {message}")]
    Engine {
        /// The engine's stable code.
        code: &'static str,
        /// Its message.
        message: String,
        /// The engine's retry decision.
        retryable: bool,
    },
    /// The check panicked; the panic was caught on the pool thread.
    #[error("check panicked: {0}")]
    Panic(String),
    /// The job names a profile the engine does not know.
    #[error("unknown profile {0:?}")]
    UnknownProfile(String),
    /// A stored result could not be read back.
    #[error("stored result is not valid JSON: {0}")]
    CorruptResult(String),
    /// Another worker held this photo's result lock for the whole wait (it is stuck).
    #[error("another worker is still writing this photo's result")]
    Busy,
}

impl JobError {
    /// Stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            JobError::Malformed(_) => "job.malformed",
            JobError::Store(e) => e.code(),
            JobError::Broker(e) => e.code(),
            JobError::Engine { code, .. } => code,
            JobError::Panic(_) => "job.panic",
            JobError::UnknownProfile(_) => "job.unknown_profile",
            JobError::CorruptResult(_) => "job.corrupt_result",
            JobError::Busy => "job.busy",
        }
    }

    /// An outage of a service the job needs (storage or broker unreachable, a publish not
    /// confirmed): the job waits it out however long it lasts; it never counts as an attempt.
    pub fn is_outage(&self) -> bool {
        matches!(
            self,
            JobError::Store(StoreError::Unavailable { .. }) | JobError::Broker(_) | JobError::Busy
        )
    }

    /// A failure of the engine or of this job's inputs that still leaves an applicant to answer:
    /// the worker delivers an `engine.error` result (verdict `review`) instead of dead-lettering.
    pub fn is_answerable(&self) -> bool {
        matches!(
            self,
            JobError::Engine { .. }
                | JobError::Panic(_)
                | JobError::UnknownProfile(_)
                | JobError::Store(StoreError::NotFound { .. })
        )
    }

    /// The clerk's message for a result that reports this failure (`engine.error`).
    pub fn clerk_message(&self) -> &'static str {
        match self {
            JobError::UnknownProfile(_) => {
                "检测节点不支持该照片标准，照片未能检测，请人工审核或联系运维人员"
            }
            JobError::Store(StoreError::NotFound { .. }) => {
                "照片在存储中已不存在，未能检测，请重新上传照片"
            }
            _ => "检测引擎未能处理这张照片，请人工审核；如反复出现请联系运维人员",
        }
    }

    /// Whether the job is worth another attempt.
    pub fn is_retryable(&self) -> bool {
        match self {
            JobError::Store(e) => e.is_retryable(),
            JobError::Broker(e) => e.is_retryable(),
            JobError::Engine { retryable, .. } => *retryable,
            JobError::Busy => true,
            JobError::Malformed(_)
            | JobError::Panic(_)
            | JobError::UnknownProfile(_)
            | JobError::CorruptResult(_) => false,
        }
    }
}

/// Why one delivery attempt to the central system failed.
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    /// The central system answered with a non-2xx status.
    #[error("central system answered {0}")]
    Status(u16),
    /// The request could not be sent or timed out.
    #[error("central system unreachable: {0}")]
    Transport(String),
}

impl DeliveryError {
    /// Stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            DeliveryError::Status(_) => "delivery.status",
            DeliveryError::Transport(_) => "delivery.transport",
        }
    }

    /// Deliveries are always retried: a result is never dropped.
    pub fn is_retryable(&self) -> bool {
        match self {
            DeliveryError::Status(_) | DeliveryError::Transport(_) => true,
        }
    }

    /// A refusal of the request itself (a 4xx other than 408 Request Timeout and 429 Too Many
    /// Requests): repeating it unchanged will not help, so after a few it is parked.
    pub fn is_refusal(&self) -> bool {
        matches!(self, DeliveryError::Status(s) if (400..500).contains(s) && *s != 408 && *s != 429)
    }
}

/// A failure that stops a service (`serve`, `worker`) or the `submit` client.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// The configuration is unusable.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// Binding or serving the HTTP listener failed.
    #[error("cannot listen on {addr}: {reason}")]
    Listen {
        /// The address.
        addr: String,
        /// The OS error.
        reason: String,
    },
    /// Storage failed at start-up.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The broker failed at start-up.
    #[error(transparent)]
    Broker(#[from] BrokerError),
    /// The check engine could not start.
    #[error("check engine: {0}")]
    Engine(String),
    /// `submit`: reading input or talking to the API failed.
    #[error("submit: {0}")]
    Submit(String),
    /// A certificate, key or CA bundle is unusable.
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsError),
}

impl PipelineError {
    /// Stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            PipelineError::Config(_) => "pipeline.config",
            PipelineError::Listen { .. } => "pipeline.listen",
            PipelineError::Store(e) => e.code(),
            PipelineError::Broker(e) => e.code(),
            PipelineError::Engine(_) => "pipeline.engine",
            PipelineError::Submit(_) => "pipeline.submit",
            PipelineError::Tls(e) => e.code(),
        }
    }

    /// Whether restarting the process later could succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            PipelineError::Store(e) => e.is_retryable(),
            PipelineError::Broker(e) => e.is_retryable(),
            PipelineError::Listen { .. } => true,
            PipelineError::Config(_)
            | PipelineError::Engine(_)
            | PipelineError::Submit(_)
            | PipelineError::Tls(_) => false,
        }
    }
}
