//! Qwen's text generation, canned: the request checked like DashScope's (model, messages,
//! `enable_search`), prompt markers honoured, and a plausible character description answered in
//! the shape `result_format` asks for.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::response::Response;
use serde_json::{Value, json};

use crate::markers::marker_refusal;
use crate::routes::{ApiError, error, gate, json_response, read_json, uuid_like};
use crate::state::Shared;

/// Text models whose names start with one of these may search the web (Beijing region).
const SEARCH_MODELS: [&str; 6] = [
    "qwen-plus",
    "qwen-max",
    "qwen-turbo",
    "qwen-flash",
    "qwen3-max",
    "qwq-plus",
];

pub(crate) async fn generate_text(
    State(shared): State<Arc<Shared>>,
    req: Request,
) -> Result<Response, ApiError> {
    let (parts, body) = req.into_parts();
    gate(&shared, &parts.headers)?;
    let body = read_json(body).await?;
    let invalid = |message: &str| error(400, "InvalidParameter", message);
    let model = match body.get("model").and_then(Value::as_str).map(str::trim) {
        None | Some("") => {
            return Err(error(
                400,
                "BadRequest.EmptyModel",
                "Required parameter \"model\" missing from request.",
            ));
        }
        Some(m) => m.to_owned(),
    };
    if !(model.starts_with("qwen") || model.starts_with("qwq")) {
        return Err(invalid("Model not exist."));
    }
    let messages = body
        .pointer("/input/messages")
        .and_then(Value::as_array)
        .filter(|m| !m.is_empty());
    let Some(messages) = messages else {
        return Err(invalid(
            "Either \"prompt\" or \"messages\" must exist and cannot both be none",
        ));
    };
    let mut user = String::new();
    for m in messages {
        let (Some(role), Some(content)) = (
            m.get("role").and_then(Value::as_str),
            m.get("content").and_then(Value::as_str),
        ) else {
            return Err(invalid(
                "Each message needs a string role and a string content.",
            ));
        };
        if role == "user" {
            user = content.to_owned();
        }
        if let Some(refusal) = marker_refusal(content) {
            return Err(refusal);
        }
        if content.contains("[standin:fail]") || content.contains("[standin:ip]") {
            return Err(error(
                400,
                "DataInspectionFailed",
                "Input data may contain inappropriate content.",
            ));
        }
    }
    let params = body.get("parameters").cloned().unwrap_or(Value::Null);
    if params.get("enable_search").and_then(Value::as_bool) == Some(true)
        && !SEARCH_MODELS.iter().any(|m| model.starts_with(m))
    {
        return Err(invalid("This model does not support enable_search."));
    }
    let content = canned_description(&user);
    let input_tokens: usize = messages
        .iter()
        .filter_map(|m| m.get("content").and_then(Value::as_str))
        .map(|c| c.chars().count())
        .sum();
    let output_tokens = content.chars().count();
    let mut output = if params.get("result_format").and_then(Value::as_str) == Some("message") {
        json!({"choices": [{"finish_reason": "stop", "message": {"role": "assistant", "content": content}}]})
    } else {
        json!({"text": content, "finish_reason": "stop"})
    };
    if params
        .pointer("/search_options/enable_source")
        .and_then(Value::as_bool)
        == Some(true)
    {
        output["search_info"] = json!({"search_results": [{
            "index": 1,
            "title": "离线替身的搜索结果",
            "url": "https://example.invalid/standin",
            "site_name": "stand-in",
            "icon": "",
        }]});
    }
    Ok(json_response(
        200,
        json!({
            "request_id": uuid_like(),
            "output": output,
            "usage": {
                "input_tokens": input_tokens,
                "output_tokens": output_tokens,
                "total_tokens": input_tokens + output_tokens,
            },
        }),
    ))
}

/// A plausible appearance, varied by the question so different characters read differently.
fn canned_description(question: &str) -> String {
    const HAIR: [&str; 5] = [
        "黑色短发",
        "金色长发",
        "粉色双马尾",
        "银白色卷发",
        "棕色蓬松短发",
    ];
    const CLOTHES: [&str; 5] = [
        "红色连帽外套",
        "蓝白相间的校服",
        "黄色背带裤",
        "绿色斗篷",
        "黑色皮夹克",
    ];
    const PROP: [&str; 5] = ["圆框眼镜", "星形发卡", "小背包", "长围巾", "木制法杖"];
    let h = question
        .bytes()
        .fold(5381u64, |h, b| h.wrapping_mul(33) ^ u64::from(b));
    let pick = |n: u64| (h / n % 5) as usize;
    format!(
        "圆脸大眼睛，{}，身材娇小，穿着{}，带着{}，表情活泼，动作夸张可爱。",
        HAIR[pick(1)],
        CLOTHES[pick(7)],
        PROP[pick(49)]
    )
}
