//! What a user checks of a sticker, and a photo to make one from.

/// A GIF that loops forever, fits 240×240 and 500 KB, and moves.
pub fn assert_sticker(bytes: &[u8]) {
    assert!(bytes.len() <= 512_000, "GIF is {} bytes", bytes.len());
    let mut options = gif::DecodeOptions::new();
    options.set_color_output(gif::ColorOutput::Indexed);
    let mut decoder = options.read_info(bytes).expect("a GIF");
    assert!(decoder.width() <= 240 && decoder.height() <= 240);
    assert!(decoder.width() >= 100 && decoder.height() >= 100);
    let mut frames = 0;
    while decoder.read_next_frame().unwrap().is_some() {
        frames += 1;
    }
    assert!(frames >= 10, "only {frames} frames");
    assert_eq!(decoder.repeat(), gif::Repeat::Infinite);
}

/// A real 640×480 PNG photo-like test image (ffmpeg's test pattern), as a data URI.
pub fn test_png_data_uri() -> String {
    use base64::Engine;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("in.png");
    let status = std::process::Command::new("ffmpeg")
        .args([
            "-loglevel",
            "error",
            "-f",
            "lavfi",
            "-i",
            "testsrc2=s=640x480",
            "-frames:v",
            "1",
        ])
        .arg(&path)
        .status()
        .unwrap();
    assert!(status.success());
    let bytes = std::fs::read(&path).unwrap();
    format!(
        "data:image/png;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    )
}
