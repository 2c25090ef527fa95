//! The input image as DashScope will receive it: a data URI of at most 10485760 bytes, so an
//! image under the 10 MB file limit whose base64 would pass that cap is refused at upload, in
//! the video envelope, before anything is stored or paid for.

use base64::Engine;
use serde_json::json;

use crate::env::JobEnv;

/// An uncompressed 24-bit BMP: its size is exactly known, 54 + width × height × 3 bytes.
fn bmp(width: u32, height: u32) -> Vec<u8> {
    assert_eq!(width * 3 % 4, 0, "rows without padding keep this simple");
    let pixels = (width * height * 3) as usize;
    let mut b = Vec::with_capacity(54 + pixels);
    b.extend_from_slice(b"BM");
    b.extend_from_slice(&(54 + pixels as u32).to_le_bytes());
    b.extend_from_slice(&[0; 4]);
    b.extend_from_slice(&54u32.to_le_bytes());
    b.extend_from_slice(&40u32.to_le_bytes());
    b.extend_from_slice(&(width as i32).to_le_bytes());
    b.extend_from_slice(&(height as i32).to_le_bytes());
    b.extend_from_slice(&1u16.to_le_bytes());
    b.extend_from_slice(&24u16.to_le_bytes());
    b.extend_from_slice(&[0; 4]); // no compression
    b.extend_from_slice(&(pixels as u32).to_le_bytes());
    b.extend_from_slice(&2835u32.to_le_bytes());
    b.extend_from_slice(&2835u32.to_le_bytes());
    b.extend_from_slice(&[0; 8]);
    b.extend((0..pixels).map(|i| (i % 251) as u8));
    b
}

fn data_uri(bytes: &[u8]) -> String {
    format!(
        "data:image/bmp;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_image_whose_data_uri_would_pass_dashscopes_cap_is_refused_at_upload() {
    let env = JobEnv::local(&[]).await;
    let token = env.user("13800008888").await;

    // 8.4 MB of file, under the 10 MB limit; 11.2 MB as a data URI, over 10485760 bytes.
    let big = bmp(2000, 1400);
    assert!(big.len() < 10 * 1024 * 1024);
    assert!(data_uri(&big).len() > 10_485_760);
    let (status, body) = env
        .create(
            &token,
            json!({"type": "image_to_video", "prompt": "挥手", "img_base64": data_uri(&big)}),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    let message = body["error"].as_str().unwrap_or_else(|| panic!("{body}"));
    assert!(message.contains("10 MB"), "{message}");
    assert!(
        !message.contains("Qk0"),
        "the upload is not echoed: {message}"
    );

    assert!(
        env.jobs_of("13800008888").await.is_empty(),
        "no job was made"
    );
    assert_eq!(env.standin.tasks_created(), 0);

    // The same kind of image, small enough, is taken.
    let (status, body) = env
        .create(
            &token,
            json!({"type": "image_to_video", "prompt": "挥手", "img_base64": data_uri(&bmp(1200, 900))}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
}
