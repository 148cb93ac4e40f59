//! The product contract of photocheck as Rust types (`shared/CONTRACT.md` §2 and §4).
//!
//! Everything that crosses a process boundary lives here: the result object a check produces,
//! the stable check codes, the verdict rules and the job message a window upload puts on the
//! queue. The crate has no I/O and depends only on `serde`, so the engine, the CLI, the worker,
//! the API and the benches all agree on one definition.

mod code;
mod decision;
mod job;
mod result;

pub use code::CheckCode;
pub use decision::{Decision, DecisionKind, DECISION_SCHEMA};
pub use job::JobMessage;
pub use result::{
    Check, CheckResult, EngineInfo, FaceInfo, FixInfo, FixReason, Landmarks, Status, Verdict,
    RESULT_SCHEMA,
};
