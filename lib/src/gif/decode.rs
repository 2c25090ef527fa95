//! Decoding: ffmpeg (through `ffmpeg-sidecar`) reads the MP4, drops frames to the settings' rate
//! and scales them to fit `max_side`, handing them over as raw RGBA on a pipe, cut at
//! [`MAX_SECONDS`]. The frames are kept in memory ([`Frames`]) with two cheap measures of how hard
//! the clip is to compress ([`Content`]), taken as they arrive. Also here: the ffmpeg child that is
//! always reaped, and the one-line reason given for a file that does not decode. A caption is
//! drawn on each frame as it arrives, before it is measured, so the measures see the text too.

use std::io;
use std::path::Path;
use std::process::ExitStatus;

use ffmpeg_sidecar::child::FfmpegChild;
use ffmpeg_sidecar::command::FfmpegCommand;
use ffmpeg_sidecar::event::{FfmpegEvent, LogLevel};
use gifski::collector::{ImgVec, RGBA8};

use super::caption::{Captioning, Overlay};
use super::{GifError, GifSettings, MAX_SECONDS};

/// Decoded frames, all `width`×`height`, at `fps`.
pub(super) struct Frames {
    pub(super) width: u32,
    pub(super) height: u32,
    pub(super) fps: u32,
    pub(super) images: Vec<ImgVec<RGBA8>>,
    pub(super) content: Content,
}

/// Cheap measures of how hard a clip is to compress, taken from the decoded frames.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(super) struct Content {
    /// Mean absolute luma difference between consecutive frames (0-255): motion and noise.
    pub(super) motion: f64,
    /// Mean absolute luma difference between neighbouring pixels (0-255): spatial detail.
    pub(super) detail: f64,
}

/// Accumulates [`Content`] one RGBA frame at a time, keeping only the previous frame's luma.
#[derive(Default)]
struct ContentMeter {
    previous: Vec<u8>,
    luma: Vec<u8>,
    motion: (u64, u64),
    detail: (u64, u64),
}

impl ContentMeter {
    fn add(&mut self, rgba: &[u8], width: usize, height: usize) {
        self.luma.clear();
        self.luma.extend(
            rgba.chunks_exact(4)
                .map(|p| ((u16::from(p[0]) + 2 * u16::from(p[1]) + u16::from(p[2])) / 4) as u8),
        );
        let luma = &self.luma;
        let mut sum = 0u64;
        for row in luma.chunks_exact(width) {
            sum += row
                .windows(2)
                .map(|p| u64::from(p[0].abs_diff(p[1])))
                .sum::<u64>();
        }
        for (upper, lower) in luma
            .chunks_exact(width)
            .zip(luma.chunks_exact(width).skip(1))
        {
            sum += upper
                .iter()
                .zip(lower)
                .map(|(a, b)| u64::from(a.abs_diff(*b)))
                .sum::<u64>();
        }
        self.detail.0 += sum;
        self.detail.1 +=
            (width.saturating_sub(1) * height + width * height.saturating_sub(1)) as u64;
        if self.previous.len() == luma.len() {
            self.motion.0 += luma
                .iter()
                .zip(&self.previous)
                .map(|(a, b)| u64::from(a.abs_diff(*b)))
                .sum::<u64>();
            self.motion.1 += luma.len() as u64;
        }
        std::mem::swap(&mut self.previous, &mut self.luma);
    }

    fn finish(&self) -> Content {
        let mean = |(sum, n): (u64, u64)| if n == 0 { 0.0 } else { sum as f64 / n as f64 };
        Content {
            motion: mean(self.motion),
            detail: mean(self.detail),
        }
    }
}

pub(super) fn decode(
    ffmpeg: &Path,
    mp4: &Path,
    settings: &GifSettings,
    caption: Option<Captioning<'_>>,
) -> Result<Frames, GifError> {
    let len = std::fs::metadata(mp4)
        .map_err(|e| GifError::Internal(format!("cannot read {}: {e}", mp4.display())))?
        .len();
    if len == 0 {
        return Err(GifError::Undecodable("the file is empty".to_owned()));
    }

    let side = settings.max_side;
    let max_frames = (MAX_SECONDS * settings.fps) as usize;
    // min(side, iw) keeps small videos at their size; quoting protects the commas from the
    // filtergraph parser. fps runs before scale, so only the kept frames are scaled.
    //
    // Decoding dominates this step (0.23-0.6 CPU-s of H.264 per 5 s clip, scaling about 0.03), and
    // H.264 has no free way to decode less: every frame is a reference for others. Measured on the
    // benchmark clips (CPU-s of this command): `-skip_loop_filter all` saves 8-12% but moves the
    // frames by 0.0001-0.0005 DSSIM (2-5% of a sticker's whole error); `-skip_frame noref` saves
    // up to 30% but drops B-frames the fps filter keeps, so frames are repeated; `-threads 1` saves
    // about 5% of CPU but doubles the decode's wall time; `flags=area` or `bicubic` instead of
    // lanczos save about 0.01-0.03 at a softer picture; `-flags2 +fast` nothing measurable. None
    // is free, so none is used. Audio, subtitles and data are not decoded (`-an -sn -dn`).
    let filter = format!(
        "fps={fps},scale=w='min({side},iw)':h='min({side},ih)':force_original_aspect_ratio=decrease:flags=lanczos",
        fps = settings.fps
    );
    let mut command = FfmpegCommand::new_with_path(ffmpeg);
    command
        .args(["-nostdin", "-hide_banner"])
        // The file came from the network: read it as MP4 only (`mp4` names the demuxer
        // `mov,mp4,m4a,3gp,3g2,mj2`) and open nothing but local files, so a playlist or a
        // concat list posing as a video cannot make ffmpeg fetch or read anything else.
        .args(["-f", "mp4", "-protocol_whitelist", "file"])
        .input(mp4.as_os_str())
        .args(["-map", "0:v:0", "-an", "-sn", "-dn"])
        .filter(filter)
        .args(["-frames:v", &max_frames.to_string()])
        .pix_fmt("rgba")
        .format("rawvideo")
        .pipe_stdout();
    let child = command.spawn().map_err(|e| match e.kind() {
        io::ErrorKind::NotFound | io::ErrorKind::PermissionDenied => {
            GifError::FfmpegMissing(format!("{}: {e}", ffmpeg.display()))
        }
        _ => GifError::Internal(format!("spawning {}: {e}", ffmpeg.display())),
    })?;
    let mut child = Reaped(Some(child));

    let events = child
        .get()
        .iter()
        .map_err(|e| GifError::Internal(format!("reading ffmpeg output: {e:#}")))?;
    let mut images = Vec::new();
    let mut meter = ContentMeter::default();
    let mut size = None;
    let mut overlay = None;
    let mut last_error = None;
    for event in events {
        match event {
            FfmpegEvent::OutputFrame(frame) => {
                let (w, h) = (frame.width, frame.height);
                if w == 0 || h == 0 || w > side || h > side {
                    return Err(GifError::Internal(format!(
                        "ffmpeg produced a {w}x{h} frame"
                    )));
                }
                if *size.get_or_insert((w, h)) != (w, h)
                    || frame.data.len() != w as usize * h as usize * 4
                {
                    return Err(GifError::Internal(format!(
                        "ffmpeg frame {w}x{h} {} with {} bytes does not match the stream",
                        frame.pix_fmt,
                        frame.data.len()
                    )));
                }
                let mut data = frame.data;
                if let Some(captioning) = caption {
                    overlay
                        .get_or_insert_with(|| Overlay::new(captioning, w, h))
                        .apply(&mut data);
                }
                meter.add(&data, w as usize, h as usize);
                let pixels = data
                    .chunks_exact(4)
                    .map(|p| RGBA8::new(p[0], p[1], p[2], p[3]))
                    .collect();
                images.push(ImgVec::new(pixels, w as usize, h as usize));
                if images.len() >= max_frames {
                    tracing::warn!(
                        max_frames,
                        "video reached the {MAX_SECONDS} s cap, the rest is ignored"
                    );
                    break;
                }
            }
            FfmpegEvent::Log(LogLevel::Error | LogLevel::Fatal, message)
            | FfmpegEvent::Error(message) => last_error = Some(message),
            _ => {}
        }
    }

    let status = if images.len() >= max_frames {
        None
    } else {
        Some(
            child
                .wait()
                .map_err(|e| GifError::Internal(format!("waiting for ffmpeg: {e}")))?,
        )
    };
    let failed = status.is_some_and(|s| !s.success());
    match size {
        Some((width, height)) if !failed => Ok(Frames {
            width,
            height,
            fps: settings.fps,
            images,
            content: meter.finish(),
        }),
        _ => Err(GifError::Undecodable(short_reason(last_error, status, mp4))),
    }
}

/// One line for users and logs: ffmpeg's last error without the (temporary) input path.
fn short_reason(last_error: Option<String>, status: Option<ExitStatus>, mp4: &Path) -> String {
    let reason = match last_error {
        Some(message) => {
            // "[error] [mov,mp4 @ 0x…] /tmp/x.mp4: moov atom not found": the level, the
            // component and the path say nothing to a user.
            let mut line = message.trim();
            while let Some(rest) = line.strip_prefix('[').and_then(|l| l.split_once("] ")) {
                line = rest.1.trim_start();
            }
            let path = format!("{}: ", mp4.display());
            line.trim_start_matches(path.as_str()).to_owned()
        }
        None => match status {
            Some(s) if !s.success() => format!("ffmpeg failed ({s})"),
            _ => "no video frames".to_owned(),
        },
    };
    reason.chars().take(200).collect()
}

/// An ffmpeg child that is killed and reaped when dropped, whatever path leaves `decode`.
struct Reaped(Option<FfmpegChild>);

impl Reaped {
    fn get(&mut self) -> &mut FfmpegChild {
        self.0.as_mut().expect("child present until waited for")
    }

    /// Waits for a child that has closed its output and so is exiting on its own; killing it
    /// here could turn a clean exit into a signal.
    fn wait(&mut self) -> io::Result<ExitStatus> {
        let mut child = self.0.take().expect("child present until waited for");
        child.wait()
    }
}

impl Drop for Reaped {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            // Errors mean it has exited already; wait() then only reaps it.
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::process::Command;

    use super::super::mp4_to_gif;
    use super::super::test_clips::{convert, ffmpeg};
    use super::*;

    #[test]
    fn a_video_longer_than_the_cap_is_cut_to_it() {
        let dir = tempfile::tempdir().unwrap();
        let mp4 = dir.path().join("long.mp4");
        let out = Command::new(ffmpeg())
            .args(["-nostdin", "-loglevel", "error", "-f", "lavfi", "-i"])
            .args(["testsrc2=size=64x64:rate=30", "-t", "40", "-c:v", "libx264"])
            .args(["-preset", "ultrafast", "-pix_fmt", "yuv420p"])
            .arg(&mp4)
            .output()
            .unwrap();
        assert!(out.status.success());

        let sticker = convert(&mp4, &GifSettings::default());
        assert_eq!(sticker.frames, (MAX_SECONDS * 10) as usize);
        assert_eq!(
            (sticker.width, sticker.height),
            (64, 64),
            "small videos are not enlarged"
        );
    }

    #[test]
    fn garbage_an_empty_file_and_a_video_without_pictures_are_undecodable() {
        let dir = tempfile::tempdir().unwrap();
        let garbage = dir.path().join("garbage.mp4");
        std::fs::write(
            &garbage,
            b"this is not a video, just some text pretending".repeat(100),
        )
        .unwrap();
        let empty = dir.path().join("empty.mp4");
        std::fs::write(&empty, b"").unwrap();
        let sound = dir.path().join("sound.mp4");
        let out = Command::new(ffmpeg())
            .args(["-nostdin", "-loglevel", "error", "-f", "lavfi", "-i"])
            .args(["sine=duration=1", "-c:a", "aac"])
            .arg(&sound)
            .output()
            .unwrap();
        assert!(out.status.success());

        for mp4 in [&garbage, &empty, &sound] {
            match mp4_to_gif(ffmpeg(), mp4, &GifSettings::default(), None) {
                Err(e @ GifError::Undecodable(_)) => {
                    let message = e.to_string();
                    eprintln!("{}: {message}", mp4.display());
                    assert!(message.len() < 300, "{message}");
                    assert!(!message.contains(dir.path().to_str().unwrap()), "{message}");
                }
                other => panic!("{}: expected Undecodable, got {other:?}", mp4.display()),
            }
        }
    }

    #[test]
    fn a_missing_input_file_is_our_fault_not_the_videos() {
        let dir = tempfile::tempdir().unwrap();
        let result = mp4_to_gif(
            ffmpeg(),
            &dir.path().join("never-written.mp4"),
            &GifSettings::default(),
            None,
        );
        assert!(matches!(result, Err(GifError::Internal(_))), "{result:?}");
    }

    #[test]
    fn the_content_measures_see_motion_and_detail() {
        let flat = vec![128u8; 8 * 8 * 4];
        let mut stripes = flat.clone();
        for (i, px) in stripes.chunks_exact_mut(4).enumerate() {
            let v = if i % 2 == 0 { 0 } else { 200 };
            px[..3].copy_from_slice(&[v, v, v]);
        }
        let mut still = ContentMeter::default();
        still.add(&flat, 8, 8);
        still.add(&flat, 8, 8);
        assert_eq!(
            still.finish(),
            Content {
                motion: 0.0,
                detail: 0.0
            }
        );
        let mut moving = ContentMeter::default();
        moving.add(&flat, 8, 8);
        moving.add(&stripes, 8, 8);
        let content = moving.finish();
        assert!((content.motion - 100.0).abs() < 1.0, "{content:?}");
        assert!(content.detail > 40.0, "{content:?}");
    }
}
