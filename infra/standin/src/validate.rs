//! The rules of a video-synthesis request, as DashScope checks them: the model, the prompt, the
//! parameters, `size` for text-to-video, `resolution` and `img_url` for image-to-video.

use serde_json::{Value, json};

use crate::images::{ImageRef, parse_image_ref};
use crate::routes::{ApiError, error};
use crate::{I2V_RESOLUTIONS, T2V_SIZES};

const T2V_MODELS: [&str; 3] = ["wanx2.1-t2v-turbo", "wan2.1-t2v-turbo", "wanx2.1-t2v-plus"];
const I2V_MODELS: [&str; 4] = [
    "wan2.2-i2v-flash",
    "wan2.2-i2v-plus",
    "wanx2.1-i2v-turbo",
    "wanx2.1-i2v-plus",
];

pub(crate) struct VideoRequest {
    pub(crate) model: String,
    pub(crate) prompt: String,
    pub(crate) shape: Shape,
    /// `parameters.seed`, when sent.
    pub(crate) seed: Option<u64>,
}

pub(crate) enum Shape {
    Size(u32, u32),
    Image { resolution: String, image: ImageRef },
}

pub(crate) fn validate_video(body: &Value) -> Result<VideoRequest, ApiError> {
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
    let Some(input) = body.get("input").filter(|i| i.is_object()) else {
        return Err(error(
            400,
            "BadRequest.EmptyInput",
            "Required input parameter missing from request.",
        ));
    };
    let t2v = T2V_MODELS.contains(&model.as_str());
    if !t2v && !I2V_MODELS.contains(&model.as_str()) {
        return Err(invalid("Model not exist."));
    }
    let prompt = match input.get("prompt") {
        Some(Value::String(p)) => p.clone(),
        None | Some(Value::Null) if !t2v => String::new(),
        None | Some(Value::Null) => return Err(invalid("Field required: input.prompt")),
        Some(_) => return Err(invalid("input.prompt must be a string")),
    };
    if t2v && prompt.trim().is_empty() {
        return Err(invalid("Field required: input.prompt"));
    }
    if let Some(n) = input.get("negative_prompt")
        && !(n.is_string() || n.is_null())
    {
        return Err(invalid("input.negative_prompt must be a string"));
    }
    let params = match body.get("parameters") {
        None | Some(Value::Null) => json!({}),
        Some(p) if p.is_object() => p.clone(),
        Some(_) => return Err(invalid("parameters must be an object")),
    };
    match params.get("duration") {
        None | Some(Value::Null) => {}
        Some(d) if d.as_u64() == Some(5) => {}
        Some(_) => {
            return Err(invalid(
                "parameters.duration must be the integer 5 for this model",
            ));
        }
    }
    for flag in ["prompt_extend", "watermark"] {
        if let Some(v) = params.get(flag)
            && !(v.is_boolean() || v.is_null())
        {
            return Err(invalid(&format!("parameters.{flag} must be a boolean")));
        }
    }
    if let Some(seed) = params.get("seed")
        && !seed.is_null()
        && seed.as_u64().is_none_or(|s| s > 2_147_483_647)
    {
        return Err(invalid(
            "parameters.seed must be an integer in [0, 2147483647]",
        ));
    }
    let shape = if t2v {
        let size = params
            .get("size")
            .and_then(Value::as_str)
            .unwrap_or("1280*720");
        if !T2V_SIZES.contains(&size) {
            return Err(invalid(&format!(
                "The size is not match the allowed size [{}]",
                T2V_SIZES.join(", ")
            )));
        }
        let (w, h) = size.split_once('*').unwrap_or(("1280", "720"));
        Shape::Size(w.parse().unwrap_or(1280), h.parse().unwrap_or(720))
    } else {
        let resolution = params
            .get("resolution")
            .and_then(Value::as_str)
            .unwrap_or("720P");
        if !I2V_RESOLUTIONS.contains(&resolution) {
            return Err(invalid(
                "parameters.resolution must be one of 480P, 720P, 1080P",
            ));
        }
        let Some(img_url) = input.get("img_url").and_then(Value::as_str) else {
            return Err(invalid("Field required: input.img_url"));
        };
        Shape::Image {
            resolution: resolution.to_owned(),
            image: parse_image_ref(img_url)?,
        }
    };
    Ok(VideoRequest {
        model,
        prompt,
        shape,
        seed: params.get("seed").and_then(Value::as_u64),
    })
}
