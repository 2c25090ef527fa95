//! The videos: 5 s smiley MP4s rendered by ffmpeg on the blocking pool, once per size per
//! stand-in (every task of that size waits on the same render), and cached on disk across
//! stand-ins under a recipe name.

use std::io;
use std::path::Path as FsPath;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use tokio::sync::OnceCell;

use crate::routes::uuid_like;
use crate::state::Shared;

/// Bumped whenever the ffmpeg recipe changes, so cached files of an older recipe are not served.
const RENDER_RECIPE: &str = "smiley-v1";

pub(crate) type Render = OnceCell<Result<Bytes, String>>;

impl Shared {
    /// The render of a `w`×`h` video, started now if it is not under way yet.
    pub(crate) fn render(self: &Arc<Self>, w: u32, h: u32) -> Arc<Render> {
        let cell = {
            let mut renders = self.renders.lock().unwrap_or_else(|e| e.into_inner());
            renders.entry((w, h)).or_default().clone()
        };
        if !cell.initialized() {
            let cell = cell.clone();
            let ffmpeg = self.config.ffmpeg.clone();
            let dir = self.cache_dir.clone();
            tokio::spawn(async move {
                cell.get_or_init(|| async move {
                    tokio::task::spawn_blocking(move || render_video(&ffmpeg, &dir, w, h))
                        .await
                        .unwrap_or_else(|e| Err(format!("render task failed: {e}")))
                })
                .await;
            });
        }
        cell
    }
}

pub(crate) fn check_ffmpeg(ffmpeg: &FsPath) -> io::Result<()> {
    let status = Command::new(ffmpeg)
        .arg("-version")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    match status {
        Ok(s) if s.success() => Ok(()),
        _ => Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!(
                "the DashScope stand-in needs ffmpeg, and {:?} does not run \
                 (install it: apt-get install ffmpeg, or set StandinConfig::ffmpeg)",
                ffmpeg
            ),
        )),
    }
}

/// Renders (or reads from the cache) the `w`×`h` video. Blocking: runs ffmpeg.
fn render_video(ffmpeg: &FsPath, dir: &FsPath, w: u32, h: u32) -> Result<Bytes, String> {
    let path = dir.join(format!("{RENDER_RECIPE}-{w}x{h}.mp4"));
    if let Ok(bytes) = std::fs::read(&path)
        && !bytes.is_empty()
    {
        return Ok(Bytes::from(bytes));
    }
    // A unique partial name, then a rename: parallel stand-ins (tests) never read a half file.
    let part = dir.join(format!("{RENDER_RECIPE}-{w}x{h}.{}.part", uuid_like()));
    let started = Instant::now();
    let output = Command::new(ffmpeg)
        .args(ffmpeg_args(w, h))
        .arg(&part)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {ffmpeg:?}: {e}"))?;
    if !output.status.success() {
        let _ = std::fs::remove_file(&part);
        let stderr = String::from_utf8_lossy(&output.stderr);
        let tail: String = stderr.lines().rev().take(5).collect::<Vec<_>>().join(" | ");
        tracing::error!(target: "emo_standin", width = w, height = h, %tail, "ffmpeg failed");
        return Err(format!("ffmpeg failed for {w}x{h}: {tail}"));
    }
    std::fs::rename(&part, &path).map_err(|e| format!("cannot keep the rendered video: {e}"))?;
    tracing::info!(
        target: "emo_standin",
        width = w,
        height = h,
        ms = started.elapsed().as_millis() as u64,
        "stand-in video rendered"
    );
    std::fs::read(&path)
        .map(Bytes::from)
        .map_err(|e| format!("cannot read the rendered video: {e}"))
}

/// A smiley that bounces, sways and wobbles over a background whose hue turns once in 5 s: it
/// moves everywhere, like a sticker, so GIF frame sampling and palettes get real work.
fn ffmpeg_args(w: u32, h: u32) -> Vec<String> {
    let d = ((w.min(h) * 2 / 5) / 2 * 2).max(16);
    // Inside the face square: st(0) distance to the centre, st(1) inside the face, st(2) on a
    // dark feature (outline, eyes, smile).
    let face = "st(0,hypot(X-W/2,Y-H/2));st(1,lt(ld(0),W*0.46));\
st(2,ld(1)*(gt(ld(0),W*0.42)+lt(hypot(X-W*0.34,Y-H*0.38),W*0.065)\
+lt(hypot(X-W*0.66,Y-H*0.38),W*0.065)+gt(Y,H*0.58)*between(hypot(X-W/2,Y-H*0.5),W*0.22,W*0.28)))";
    let graph = format!(
        "[0:v]hue=H=2*PI*t/5[bg];\
[1:v]format=rgba,trim=end_frame=1,\
geq=r='{face};if(gt(ld(2),0),70,255)':g='{face};if(gt(ld(2),0),45,205)':\
b='{face};if(gt(ld(2),0),20,40)':a='{face};255*ld(1)',\
loop=loop=-1:size=1,rotate=a='0.35*sin(2*PI*t)':c=none[face];\
[bg][face]overlay=x='(W-w)/2+(W-w)/2*0.8*sin(2*PI*t/2.5)':\
y='(H-h)-abs(sin(PI*t/1.25))*(H-h)*0.8':shortest=1,format=yuv420p"
    );
    [
        "-hide_banner",
        "-loglevel",
        "error",
        "-nostdin",
        "-y",
        "-f",
        "lavfi",
        "-i",
        &format!("color=c=0xFFD6E8:s={w}x{h}:r=30:d=5"),
        "-f",
        "lavfi",
        "-i",
        &format!("color=c=black:s={d}x{d}:r=30:d=1"),
        "-filter_complex",
        &graph,
        "-t",
        "5",
        "-r",
        "30",
        "-c:v",
        "libx264",
        "-preset",
        "veryfast",
        "-pix_fmt",
        "yuv420p",
        "-an",
        "-movflags",
        "+faststart",
        "-f",
        "mp4",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}
