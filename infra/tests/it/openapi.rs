//! `openapi.yaml` is the contract: the real `emo-local` serves it, and every answer it gives on
//! every route, good input and bad, has a status the document lists for that path and method and
//! a body its schema accepts.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::env::test_png_data_uri;
use crate::local_server::{Server, start};

/// The OpenAPI document as JSON.
fn spec() -> Value {
    serde_yaml_ng::from_str(emo_infra::local::OPENAPI_YAML).expect("openapi.yaml is valid YAML")
}

/// Follows a `$ref` inside the document (`#/components/...`), if `v` is one.
fn deref<'a>(spec: &'a Value, v: &'a Value) -> &'a Value {
    match v.get("$ref").and_then(Value::as_str) {
        Some(r) => spec
            .pointer(r.strip_prefix('#').expect("a local $ref"))
            .unwrap_or_else(|| panic!("{r} resolves")),
        None => v,
    }
}

/// `schema` as JSON Schema draft 4 reads it: OpenAPI 3.0's `nullable: true` beside a `type` is
/// draft 4's `type: [that type, "null"]`.
fn draft4(schema: &mut Value) {
    match schema {
        Value::Object(map) => {
            if map.remove("nullable") == Some(json!(true))
                && let Some(t) = map.get("type").cloned()
            {
                map.insert("type".into(), json!([t, "null"]));
            }
            map.values_mut().for_each(draft4);
        }
        Value::Array(items) => items.iter_mut().for_each(draft4),
        _ => {}
    }
}

/// Checks one answer against the document: its status is listed for `template` and `method`,
/// its content type is the listed one, and its body matches the listed schema (with every `$ref`
/// resolved). Returns the body.
async fn check(spec: &Value, template: &str, method: &str, resp: reqwest::Response) -> Value {
    let status = resp.status().as_u16().to_string();
    let content_type = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let allow = resp
        .headers()
        .get("allow")
        .map(|v| v.to_str().unwrap().to_owned());
    let text = resp.text().await.unwrap();
    let what = format!("{method} {template} answered {status} {text}");
    let operation = spec["paths"][template]
        .get(method)
        .unwrap_or_else(|| panic!("{what}: the document has no {method} {template}"));
    let response = operation["responses"]
        .get(&status)
        .unwrap_or_else(|| panic!("{what}: status {status} is not documented"));
    let response = deref(spec, response);
    let (media, content) = response["content"]
        .as_object()
        .and_then(|c| c.iter().next())
        .unwrap_or_else(|| panic!("{what}: the document gives no body"));
    assert_eq!(
        content_type.split(';').next().unwrap().trim(),
        media,
        "{what}: content type"
    );
    if let Some(allowed) = response.pointer("/headers/Allow/schema/enum") {
        let allow = allow.unwrap_or_else(|| panic!("{what}: no Allow header"));
        assert!(
            allowed.as_array().unwrap().contains(&json!(allow)),
            "{what}: Allow {allow} not in {allowed}"
        );
    }
    let body: Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{what}: not JSON: {e}"));
    // The schema, with the document's components beside it so `#/components/...` resolves.
    let mut schema = content["schema"].clone();
    schema
        .as_object_mut()
        .unwrap()
        .insert("components".into(), spec["components"].clone());
    draft4(&mut schema);
    let validator = jsonschema::draft4::new(&schema)
        .unwrap_or_else(|e| panic!("{what}: the schema does not compile: {e}"));
    let errors: Vec<String> = validator
        .iter_errors(&body)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{what}: not as documented: {errors:?}");
    body
}

const REGISTER: &str = "/api/v1/users/register";
const LOGIN: &str = "/api/v1/users/login";
const WECHAT_LOGIN: &str = "/api/v1/users/wechat-login";
const CHANGE: &str = "/api/v1/users/change-password";
const CREATE: &str = "/api/v1/video/create";
const CHARACTER: &str = "/api/v1/video/create_with_prompt";
const QUERY: &str = "/api/v1/video/query/{job_id}";
const LIST: &str = "/api/v1/video/list";
const REGENERATE: &str = "/api/v1/video/regenerate/{job_id}";
const DELETE: &str = "/api/v1/video/{job_id}";

fn query_url(server: &Server, id: &str) -> String {
    server.url(&format!("/api/v1/video/query/{id}"))
}

async fn login(http: &reqwest::Client, server: &Server, phone: &str, password: &str) -> String {
    let body: Value = http
        .post(server.url(LOGIN))
        .form(&[("phone", phone), ("password", password)])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    body["data"]["token"].as_str().unwrap().to_owned()
}

/// Polls a job until it ends, checking every answer against the document.
async fn until_done(
    spec: &Value,
    http: &reqwest::Client,
    server: &Server,
    token: &str,
    id: &str,
) -> Value {
    let started = Instant::now();
    loop {
        let r = http
            .get(query_url(server, id))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        let body = check(spec, QUERY, "get", r).await;
        let status = body["data"]["status"].as_str().unwrap().to_owned();
        if status == "SUCCEEDED" || status == "FAILED" {
            return body;
        }
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "job {id} still {status}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[test]
fn the_document_is_openapi_3_with_every_path_of_the_contract() {
    let spec = spec();
    assert_eq!(spec["openapi"], "3.0.3");
    let paths: Vec<&str> = spec["paths"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        paths,
        [
            REGISTER,
            LOGIN,
            WECHAT_LOGIN,
            CHANGE,
            CREATE,
            CHARACTER,
            QUERY,
            LIST,
            REGENERATE,
            DELETE,
            "/api/v1/wechat/events"
        ]
    );
    // Every schema in it compiles.
    for (name, schema) in spec["components"]["schemas"].as_object().unwrap() {
        let mut schema = schema.clone();
        schema
            .as_object_mut()
            .unwrap()
            .insert("components".into(), spec["components"].clone());
        draft4(&mut schema);
        jsonschema::draft4::new(&schema).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}

#[tokio::test]
async fn the_per_address_refusals_are_as_openapi_yaml_documents() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(
        dir.path(),
        &[
            ("EMO_REGISTER_PER_IP_PER_HOUR", "1"),
            ("EMO_LOGIN_PER_IP_PER_MINUTE", "1"),
        ],
    );
    let http = reqwest::Client::new();
    let spec = spec();
    // A bound of one from 127.0.0.1: the second or, should a window end in between, the third
    // request is refused.
    for (path, phone) in [(REGISTER, "1350013500"), (LOGIN, "1360013600")] {
        let mut refused = None;
        for i in 0..3 {
            let r = http
                .post(server.url(path))
                .form(&[
                    ("phone", format!("{phone}{i}")),
                    ("password", "bounded-pw".into()),
                ])
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            let retry = r.headers().get("retry-after").cloned();
            let body = check(&spec, path, "post", r).await;
            if status == 429 {
                refused = Some((body, retry));
                break;
            }
        }
        let (body, retry) = refused.unwrap_or_else(|| panic!("{path}: never refused"));
        assert!(
            body["message"].as_str().unwrap().contains("同一网络"),
            "{body}"
        );
        let retry: u64 = retry.unwrap().to_str().unwrap().parse().unwrap();
        assert!(retry >= 1, "{retry}");
    }
}

#[tokio::test]
async fn every_answer_of_emo_local_is_as_openapi_yaml_documents() {
    let dir = tempfile::tempdir().unwrap();
    // Four jobs in progress at once, so a fifth is over the allowance (a documented 429).
    let server = start(
        dir.path(),
        &[
            ("EMO_LOGIN_MAX_FAILURES", "3"),
            ("EMO_MAX_ACTIVE_JOBS", "4"),
        ],
    );
    let http = reqwest::Client::new();

    // The document itself, as served.
    let r = http.get(server.url("/openapi.yaml")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/yaml");
    assert_eq!(r.text().await.unwrap(), emo_infra::local::OPENAPI_YAML);
    let spec = spec();
    let post = |path: &str| http.post(server.url(path));

    // Register: multipart, urlencoded and JSON; a taken phone; bad phone, password, body.
    let (phone, password) = ("13800138000", "sticker-maker-1");
    let form = reqwest::multipart::Form::new()
        .text("phone", phone)
        .text("password", password);
    let r = post(REGISTER).multipart(form).send().await.unwrap();
    check(&spec, REGISTER, "post", r).await;
    let r = post(REGISTER)
        .form(&[("phone", "13900139000"), ("password", "other-password")])
        .send()
        .await
        .unwrap();
    check(&spec, REGISTER, "post", r).await;
    let bad_bodies: Vec<(&str, Vec<u8>)> = vec![
        (
            "application/json",
            json!({"phone": phone, "password": password})
                .to_string()
                .into(),
        ),
        (
            "application/json",
            br#"{"phone":"12345","password":"long-enough"}"#.to_vec(),
        ),
        (
            "application/json",
            br#"{"phone":"13800138001","password":"short"}"#.to_vec(),
        ),
        (
            "application/json",
            json!({"phone": "13800138001", "password": "x".repeat(129)})
                .to_string()
                .into(),
        ),
        ("application/json", b"{not json".to_vec()),
        ("application/json", b"[1]".to_vec()),
        (
            "application/x-www-form-urlencoded",
            b"phone=13800138001".to_vec(),
        ),
        ("application/x-www-form-urlencoded", vec![0xff, b'=', 0xfe]),
        ("multipart/form-data", b"no boundary".to_vec()),
        ("text/xml", b"<phone/>".to_vec()),
    ];
    for (ct, body) in &bad_bodies {
        let r = post(REGISTER)
            .header("content-type", *ct)
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400);
        check(&spec, REGISTER, "post", r).await;
    }

    // Log in; wrong password; bad input; a lockout after 3 failures.
    let token = login(&http, &server, phone, password).await;
    let r = post(LOGIN)
        .json(&json!({"phone": phone, "password": password}))
        .send()
        .await
        .unwrap();
    check(&spec, LOGIN, "post", r).await;
    for (ct, body) in &bad_bodies[1..] {
        let r = post(LOGIN)
            .header("content-type", *ct)
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400);
        check(&spec, LOGIN, "post", r).await;
    }
    let mut statuses = vec![];
    for _ in 0..4 {
        let r = post(LOGIN)
            .form(&[("phone", "13600136000"), ("password", "wrong-password")])
            .send()
            .await
            .unwrap();
        statuses.push(r.status().as_u16());
        check(&spec, LOGIN, "post", r).await;
    }
    assert_eq!(statuses, [401, 401, 401, 429]);

    // Video: every route without a token, and with a bad one.
    for (path, template) in [(CREATE, CREATE), (CHARACTER, CHARACTER), (CHANGE, CHANGE)] {
        let r = post(path)
            .form(&[("type", "text_to_video")])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401);
        check(&spec, template, "post", r).await;
        let r = post(path).bearer_auth("not.a.jwt").send().await.unwrap();
        assert_eq!(r.status(), 401);
        check(&spec, template, "post", r).await;
    }
    let r = http
        .get(query_url(&server, "job_3f9c0e5d2b7a41c8e6d09a12"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    check(&spec, QUERY, "get", r).await;

    // Create: text, image, character; and bad input of each kind.
    let create = |path: &str, body: Value| post(path).bearer_auth(&token).json(&body).send();
    let text = check(
        &spec,
        CREATE,
        "post",
        create(
            CREATE,
            json!({"type": "text_to_video", "prompt": "一只猫在打篮球", "size": "832*480"}),
        )
        .await
        .unwrap(),
    )
    .await;
    let form = reqwest::multipart::Form::new()
        .text("type", "image_to_video")
        .text("prompt", "挥手")
        .text("resolution", "480P")
        .text("img_base64", test_png_data_uri());
    let r = post(CREATE)
        .bearer_auth(&token)
        .multipart(form)
        .send()
        .await
        .unwrap();
    let image = check(&spec, CREATE, "post", r).await;
    let failing = check(
        &spec,
        CREATE,
        "post",
        create(
            CREATE,
            json!({"type": "text_to_video", "prompt": "猫 [standin:fail]"}),
        )
        .await
        .unwrap(),
    )
    .await;
    let character = check(
        &spec,
        CHARACTER,
        "post",
        create(
            CHARACTER,
            json!({"role": "孙悟空", "source": "西游记", "action": "正在跳舞"}),
        )
        .await
        .unwrap(),
    )
    .await;
    let r = create(CREATE, json!({"type": "text_to_video", "prompt": "第五个"}))
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    check(&spec, CREATE, "post", r).await;
    for body in [
        json!({}),
        json!({"type": "video", "prompt": "猫"}),
        json!({"type": "text_to_video"}),
        json!({"type": "text_to_video", "prompt": "猫".repeat(801)}),
        json!({"type": "text_to_video", "prompt": "猫", "negative_prompt": "狗".repeat(501)}),
        json!({"type": "text_to_video", "prompt": "猫", "size": "1920*1080"}),
        json!({"type": "image_to_video", "prompt": "猫"}),
        json!({"type": "image_to_video", "prompt": "猫", "resolution": "1080P"}),
        json!({"type": "image_to_video", "prompt": "猫", "img_base64": "data:image/png;base64,iVBORw0KGgo"}),
        json!({"type": "image_to_video", "prompt": "猫", "img_base64": "not a data uri"}),
        json!({"type": ["text_to_video"], "prompt": "猫"}),
    ] {
        let r = create(CREATE, body.clone()).await.unwrap();
        assert_eq!(r.status(), 400, "{body}");
        check(&spec, CREATE, "post", r).await;
    }
    for body in [
        json!({}),
        json!({"action": "跳舞"}),
        json!({"role": "孙悟空"}),
        json!({"role": "孙".repeat(51), "action": "跳舞"}),
        json!({"role": "孙悟空", "source": "西".repeat(51), "action": "跳舞"}),
        json!({"role": "孙悟空", "action": "跳".repeat(201)}),
        json!({"role": "孙悟空", "action": "跳舞", "size": "1*1"}),
    ] {
        let r = create(CHARACTER, body.clone()).await.unwrap();
        assert_eq!(r.status(), 400, "{body}");
        check(&spec, CHARACTER, "post", r).await;
    }

    // Query: in progress, then every job to its end; unknown ids; another user's job.
    let text_id = text["data"]["job_id"].as_str().unwrap();
    let r = http
        .get(query_url(&server, text_id))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    check(&spec, QUERY, "get", r).await;
    for (job, want) in [
        (&text, "SUCCEEDED"),
        (&image, "SUCCEEDED"),
        (&character, "SUCCEEDED"),
        (&failing, "FAILED"),
    ] {
        let id = job["data"]["job_id"].as_str().unwrap();
        let done = until_done(&spec, &http, &server, &token, id).await;
        assert_eq!(done["data"]["status"], want, "{done}");
    }
    let other = login(&http, &server, "13900139000", "other-password").await;
    for (id, who) in [
        (text_id, &other),
        ("job_000000000000000000000000", &token),
        ("nonsense", &token),
        (&"x".repeat(300), &token),
        ("%E7%8C%AB%00", &token),
    ] {
        let r = http
            .get(query_url(&server, id))
            .bearer_auth(who)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404, "{id}");
        check(&spec, QUERY, "get", r).await;
    }

    // Change the password: bad input, then for real.
    for body in [json!({}), json!({"newPassword": "short"})] {
        let r = post(CHANGE)
            .bearer_auth(&token)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400);
        check(&spec, CHANGE, "post", r).await;
    }
    let r = post(CHANGE)
        .bearer_auth(&token)
        .form(&[("newPassword", "sticker-maker-2")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    check(&spec, CHANGE, "post", r).await;

    // Wrong methods and bodies over the limit, on every route.
    for path in [REGISTER, LOGIN, CHANGE, CREATE, CHARACTER] {
        let r = http.get(server.url(path)).send().await.unwrap();
        assert_eq!(r.status(), 405);
        check(&spec, path, "get", r).await;
        // A fresh connection each: the server answers 413 without reading the body, then closes.
        let r = reqwest::Client::new()
            .post(server.url(path))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(vec![b'a'; 17 * 1024 * 1024])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 413);
        check(&spec, path, "post", r).await;
    }
    let r = post(&query_url(&server, text_id)[server.url("").len()..])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 405);
    check(&spec, QUERY, "post", r).await;

    // A store that fails: every route answers its 500, with nothing of the cause.
    let db = rusqlite::Connection::open(dir.path().join("emo.db")).unwrap();
    db.busy_timeout(Duration::from_secs(10)).unwrap();
    db.execute_batch("DROP TABLE users; DROP TABLE login_attempts;")
        .unwrap();
    let mut answers = vec![];
    for (path, template, method) in [
        (REGISTER, REGISTER, "post"),
        (LOGIN, LOGIN, "post"),
        (CHANGE, CHANGE, "post"),
        (CREATE, CREATE, "post"),
        (CHARACTER, CHARACTER, "post"),
    ] {
        let r = post(path)
            .bearer_auth(&token)
            .form(&[
                ("phone", "13500135000"),
                ("password", "sticker-maker-9"),
                ("newPassword", "sticker-maker-9"),
                ("type", "text_to_video"),
                ("prompt", "猫"),
                ("role", "孙悟空"),
                ("action", "跳舞"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 500, "{path}");
        answers.push(check(&spec, template, method, r).await);
    }
    let r = http
        .get(query_url(&server, text_id))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 500);
    answers.push(check(&spec, QUERY, "get", r).await);
    for a in answers {
        let text = a.to_string();
        assert!(text.contains("internal server error"), "{text}");
        assert!(!text.contains("users"), "the cause leaked: {text}");
    }
}

/// emo-local with no `WECHAT_APPID` logs in against its own WeChat stand-in.
#[tokio::test]
async fn the_wechat_logins_answers_are_as_openapi_yaml_documents() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), &[]);
    let http = reqwest::Client::new();
    let spec = spec();
    let mut statuses = Vec::new();
    for code in ["zoe.1", "zoe.1", "wx-risky-user-1", "wx-busy-1", ""] {
        let r = http
            .post(server.url(WECHAT_LOGIN))
            .form(&[("code", code)])
            .send()
            .await
            .unwrap();
        statuses.push(r.status().as_u16());
        check(&spec, WECHAT_LOGIN, "post", r).await;
    }
    assert_eq!(statuses, [200, 400, 403, 429, 400]);
    let r = http
        .post(server.url(REGISTER))
        .form(&[
            ("phone", "13800138300"),
            ("password", "wechat-pass-1"),
            ("wx_code", "zoe.2"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 409);
    check(&spec, REGISTER, "post", r).await;
}

#[tokio::test]
async fn every_answer_of_the_library_routes_is_as_openapi_yaml_documents() {
    let dir = tempfile::tempdir().unwrap();
    // Four jobs a day, so a fifth (a regenerate) is over the allowance (a documented 429).
    let server = start(dir.path(), &[("EMO_MAX_DAILY_JOBS", "4")]);
    let http = reqwest::Client::new();
    let spec = spec();
    for (phone, password) in [
        ("13800138100", "library-pass-1"),
        ("13800138101", "library-pass-2"),
    ] {
        http.post(server.url(REGISTER))
            .form(&[("phone", phone), ("password", password)])
            .send()
            .await
            .unwrap();
    }
    let token = login(&http, &server, "13800138100", "library-pass-1").await;
    let other = login(&http, &server, "13800138101", "library-pass-2").await;
    let list_url = |query: &str| server.url(&format!("{LIST}?{query}"));
    let regenerate_url = |id: &str| server.url(&format!("/api/v1/video/regenerate/{id}"));
    let delete_url = |id: &str| server.url(&format!("/api/v1/video/{id}"));
    let list = |query: String, who: &str| http.get(list_url(&query)).bearer_auth(who).send();
    let regenerate = |id: &str, who: &str| http.post(regenerate_url(id)).bearer_auth(who).send();
    let delete = |id: &str, who: &str| http.delete(delete_url(id)).bearer_auth(who).send();

    // Without a token, or with a bad one.
    let r = http.get(list_url("")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    check(&spec, LIST, "get", r).await;
    let r = http
        .post(regenerate_url("job_3f9c0e5d2b7a41c8e6d09a12"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    check(&spec, REGENERATE, "post", r).await;
    let r = delete("job_3f9c0e5d2b7a41c8e6d09a12", "not.a.jwt")
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    check(&spec, DELETE, "delete", r).await;

    // Jobs: a text one, a slow one, a photo; the list pages through them.
    let create = |body: Value| {
        http.post(server.url(CREATE))
            .bearer_auth(&token)
            .json(&body)
            .send()
    };
    let mut ids = vec![];
    for body in [
        json!({"type": "text_to_video", "prompt": "一只猫在打篮球"}),
        json!({"type": "text_to_video", "prompt": "慢 [standin:slow]"}),
        json!({"type": "image_to_video", "prompt": "挥手", "img_base64": test_png_data_uri()}),
    ] {
        let r = create(body).await.unwrap();
        let body = check(&spec, CREATE, "post", r).await;
        ids.push(body["data"]["job_id"].as_str().unwrap().to_owned());
    }
    let (text, slow, photo) = (&ids[0], &ids[1], &ids[2]);
    let page = check(
        &spec,
        LIST,
        "get",
        list("limit=2".into(), &token).await.unwrap(),
    )
    .await;
    let cursor = page["data"]["next_cursor"].as_str().unwrap().to_owned();
    let rest = check(
        &spec,
        LIST,
        "get",
        list(format!("limit=2&cursor={cursor}"), &token)
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(rest["data"]["jobs"][0]["job_id"], text.as_str());
    assert_eq!(rest["data"]["next_cursor"], Value::Null);
    for query in [
        "limit=0",
        "limit=x",
        "status=done",
        "cursor=%E7%8C%AB",
        "cursor=AAAA",
    ] {
        let r = list(query.into(), &token).await.unwrap();
        assert_eq!(r.status(), 400, "{query}");
        check(&spec, LIST, "get", r).await;
    }
    let r = list(String::new(), &other).await.unwrap();
    let theirs = check(&spec, LIST, "get", r).await;
    assert_eq!(theirs["data"]["jobs"], json!([]));

    // Regenerate: in progress (409); ended; its photo gone (410); over the allowance (429).
    let r = regenerate(slow, &token).await.unwrap();
    assert_eq!(r.status(), 409);
    check(&spec, REGENERATE, "post", r).await;
    for id in [text, photo] {
        let done = until_done(&spec, &http, &server, &token, id).await;
        assert_eq!(done["data"]["status"], "SUCCEEDED", "{done}");
        assert!(done["data"]["thumbnail_url"].is_string(), "{done}");
    }
    let done = check(
        &spec,
        LIST,
        "get",
        list("status=SUCCEEDED".into(), &token).await.unwrap(),
    )
    .await;
    let succeeded = done["data"]["jobs"].as_array().unwrap();
    assert!(
        succeeded.iter().all(|j| j["status"] == "SUCCEEDED"),
        "{done}"
    );
    for id in [text, photo] {
        assert!(
            succeeded.iter().any(|j| j["job_id"] == id.as_str()),
            "{done}"
        );
    }
    std::fs::remove_file(dir.path().join(format!("blobs/inputs/{photo}.png"))).unwrap();
    let r = regenerate(photo, &token).await.unwrap();
    assert_eq!(r.status(), 410);
    check(&spec, REGENERATE, "post", r).await;
    let r = regenerate(text, &token).await.unwrap();
    assert_eq!(r.status(), 200);
    check(&spec, REGENERATE, "post", r).await;
    let r = regenerate(text, &token).await.unwrap();
    assert_eq!(r.status(), 429);
    check(&spec, REGENERATE, "post", r).await;

    // Missing, foreign and malformed ids; then the deletes themselves.
    for (id, who) in [
        (text.as_str(), &other),
        ("job_000000000000000000000000", &token),
        ("nonsense", &token),
        ("list", &token),
    ] {
        let r = regenerate(id, who).await.unwrap();
        assert_eq!(r.status(), 404, "{id}");
        check(&spec, REGENERATE, "post", r).await;
        let r = delete(id, who).await.unwrap();
        assert_eq!(r.status(), 404, "{id}");
        check(&spec, DELETE, "delete", r).await;
    }
    for id in [slow, text, photo] {
        let r = delete(id, &token).await.unwrap();
        assert_eq!(r.status(), 200, "{id}");
        check(&spec, DELETE, "delete", r).await;
    }

    // Other methods.
    for (url, template, method) in [
        (list_url(""), LIST, "post"),
        (regenerate_url(text), REGENERATE, "get"),
        (delete_url(text), DELETE, "get"),
    ] {
        let r = http
            .request(method.to_uppercase().parse().unwrap(), &url)
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 405, "{method} {url}");
        check(&spec, template, method, r).await;
    }

    // A store that fails: each route answers its 500, with nothing of the cause.
    let db = rusqlite::Connection::open(dir.path().join("emo.db")).unwrap();
    db.busy_timeout(Duration::from_secs(10)).unwrap();
    db.execute_batch("DROP TABLE jobs;").unwrap();
    let answers = [
        (LIST, "get", list(String::new(), &token).await.unwrap()),
        (REGENERATE, "post", regenerate(text, &token).await.unwrap()),
        (DELETE, "delete", delete(text, &token).await.unwrap()),
    ];
    for (template, method, r) in answers {
        assert_eq!(r.status(), 500, "{method} {template}");
        let body = check(&spec, template, method, r).await;
        assert!(
            !body.to_string().contains("jobs"),
            "the cause leaked: {body}"
        );
    }
}
