//! The prompt markers that refuse a call at once or decide how a task ends (the table is in the
//! crate's docs); `[standin:slow]` and `[standin:lost]` are read where a task is created, and
//! `[standin:gone]` and `[standin:corrupt]` where its file is served.

use crate::routes::{ApiError, error};
use crate::state::Failure;

/// Answers for the markers that make a create or a Qwen call fail at once.
pub(crate) fn marker_refusal(text: &str) -> Option<ApiError> {
    if text.contains("[standin:throttle]") {
        Some(error(
            429,
            "Throttling.RateQuota",
            "Requests rate limit exceeded, please try again later.",
        ))
    } else if text.contains("[standin:arrearage]") {
        Some(error(
            400,
            "Arrearage",
            "Access denied, please make sure your account is in good standing.",
        ))
    } else if text.contains("[standin:500]") {
        Some(error(
            500,
            "InternalError",
            "An internal error has occurred, please try again later.",
        ))
    } else if text.contains("[standin:reject]") {
        Some(error(
            400,
            "DataInspectionFailed",
            "Input data may contain inappropriate content.",
        ))
    } else {
        None
    }
}

pub(crate) fn prompt_failure(prompt: &str) -> Option<Failure> {
    let failure = |code: &str, message: &str| Failure {
        code: Some(code.to_owned()),
        message: Some(message.to_owned()),
    };
    if prompt.contains("[standin:fail-silent]") {
        Some(Failure {
            code: None,
            message: None,
        })
    } else if prompt.contains("[standin:fail]") {
        Some(failure(
            "DataInspectionFailed",
            "Output data may contain inappropriate content.",
        ))
    } else if prompt.contains("[standin:ip]") {
        Some(failure(
            "IPInfringementSuspect",
            "Input data is suspected of being involved in IP infringement.",
        ))
    } else {
        None
    }
}
