//! Test helpers shared by the module's tests: the ffmpeg they run, the MP4s they make with it,
//! decoded frames painted in code, a conversion that logs what it reached, and what a GIF viewer
//! sees of the result.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use super::caption::Captioning;
use super::{GifSettings, Sticker, mp4_to_gif};

/// `count` decoded frames of `w`×`h` at 10 fps, each pixel `paint(x, y, t)`, as if ffmpeg had
/// decoded them (with the given content measures).
pub(super) fn synthetic_frames(
    (w, h): (usize, usize),
    count: usize,
    content: super::decode::Content,
    paint: impl Fn(usize, usize, usize) -> gifski::collector::RGBA8,
) -> super::decode::Frames {
    let images = (0..count)
        .map(|t| {
            let pixels = (0..w * h).map(|i| paint(i % w, i / w, t)).collect();
            gifski::collector::ImgVec::new(pixels, w, h)
        })
        .collect();
    super::decode::Frames {
        width: w as u32,
        height: h as u32,
        fps: 10,
        images,
        content,
    }
}

/// The ffmpeg on `PATH`, as in CI and on Lambda (where a layer puts it in `/opt/bin`).
pub(super) fn ffmpeg() -> &'static Path {
    Path::new("ffmpeg")
}

/// A silent 5 s, 30 fps H.264 MP4 like DashScope's, from one of ffmpeg's test sources.
pub(super) fn clip(dir: &Path, source: &str, size: &str) -> PathBuf {
    let path = dir.join(format!("{source}-{size}.mp4"));
    let out = Command::new(ffmpeg())
        .args([
            "-nostdin",
            "-hide_banner",
            "-loglevel",
            "error",
            "-f",
            "lavfi",
            "-i",
        ])
        .arg(format!("{source}=size={size}:rate=30"))
        .args(["-t", "5", "-c:v", "libx264", "-preset", "veryfast"])
        .args(["-pix_fmt", "yuv420p"])
        .arg(&path)
        .output()
        .expect("ffmpeg runs");
    assert!(
        out.status.success(),
        "making {source} {size}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    path
}

/// What a GIF viewer sees.
pub(super) struct Seen {
    pub(super) width: u16,
    pub(super) height: u16,
    pub(super) frames: usize,
    pub(super) centiseconds: u32,
    pub(super) repeat: ::gif::Repeat,
}

pub(super) fn look_at(bytes: &[u8]) -> Seen {
    assert!(bytes.starts_with(b"GIF89a"), "not a GIF89a file");
    let mut options = ::gif::DecodeOptions::new();
    options.set_color_output(::gif::ColorOutput::Indexed);
    let mut decoder = options.read_info(bytes).expect("GIF header decodes");
    let (mut frames, mut centiseconds) = (0, 0);
    while let Some(frame) = decoder.read_next_frame().expect("GIF frame decodes") {
        frames += 1;
        centiseconds += u32::from(frame.delay);
    }
    Seen {
        width: decoder.width(),
        height: decoder.height(),
        frames,
        centiseconds,
        repeat: decoder.repeat(),
    }
}

pub(super) fn convert(mp4: &Path, settings: &GifSettings) -> Sticker {
    convert_captioned(mp4, settings, None)
}

pub(super) fn convert_captioned(
    mp4: &Path,
    settings: &GifSettings,
    caption: Option<Captioning<'_>>,
) -> Sticker {
    let started = Instant::now();
    let sticker = mp4_to_gif(ffmpeg(), mp4, settings, caption).expect("converts");
    eprintln!(
        "{}: {} bytes, {} passes, quality {}, {} fps, {:.2?}",
        mp4.file_name().unwrap().to_string_lossy(),
        sticker.gif.len(),
        sticker.passes,
        sticker.quality,
        sticker.fps,
        started.elapsed()
    );
    sticker
}
