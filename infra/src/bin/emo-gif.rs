//! `emo-gif`: one MP4 into one sticker GIF with exactly the transcoder's code
//! ([`emo::gif::mp4_to_gif`]) and settings (`EMO_GIF_*`, `EMO_FFMPEG`, overridden by flags), so
//! operators can try settings on their own clips and the benchmark measures what production runs.
//!
//! Prints one `name: value` line per fact (bytes, size, frames, quality, fps, passes, wall and
//! CPU time, peak RSS); `RUST_LOG=emo::gif=debug` also logs the trial and each encode pass on
//! stderr. Argument errors print the usage and exit 2, a failed conversion exits 1. `--caption`
//! draws a caption as the transcoder does (checked by the API's rule, in the font of
//! `EMO_CAPTION_FONT` or `--font`); `--caption-charset` prints every character a caption may
//! hold, one line, which is what `infra/ensure-font.sh` subsets the font to.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use emo::domain::Caption;
use emo::gif::GifSettings;
use emo::gif::caption::{CaptionFont, Captioning};
use emo::settings::Env;
use emo::worker::settings::{caption_font_path, ffmpeg_path, gif_settings};

const USAGE: &str = "\
usage: emo-gif IN.mp4 OUT.gif [--max-side N] [--fps N] [--max-bytes N] [--quality N]
                              [--min-quality N] [--min-fps N] [--ffmpeg PATH]
                              [--caption TEXT] [--caption-position top|bottom] [--font PATH]
                              [--reference-out FRAMES.rgb]
       emo-gif --caption-charset

Converts IN.mp4 into the sticker the transcoder would make. Defaults come from EMO_GIF_MAX_SIDE,
EMO_GIF_FPS, EMO_GIF_MAX_BYTES, EMO_GIF_QUALITY, EMO_GIF_MIN_QUALITY, EMO_GIF_MIN_FPS and
EMO_FFMPEG, as in the transcoder (240, 10, 512000, 90, 30, 5, ffmpeg on PATH). --caption draws
TEXT on every frame as the transcoder draws a job's caption, in the font of EMO_CAPTION_FONT or
--font (default /opt/share/emo/caption.otf). --caption-charset prints every character a caption
may hold (the caption font's subset) and exits. --reference-out writes, after the measured
conversion, the frames the encoder was given (decoded, scaled, captioned) as raw RGB24: the
reference the benchmark's DSSIM compares the GIF with.";

struct Args {
    input: PathBuf,
    output: PathBuf,
    settings: GifSettings,
    ffmpeg: PathBuf,
    caption: Option<Caption>,
    font: PathBuf,
    reference_out: Option<PathBuf>,
}

fn main() -> ExitCode {
    // `RUST_LOG=emo::gif=debug` shows the trial and every pass on stderr.
    emo::telemetry::init_local();
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "-h" || a == "--help") {
        println!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    if args.iter().any(|a| a == "--caption-charset") {
        println!(
            "{}",
            emo::domain::caption::charset().iter().collect::<String>()
        );
        return ExitCode::SUCCESS;
    }
    let args = match parse(&args) {
        Ok(args) => args,
        Err(problem) => {
            eprintln!("emo-gif: {problem}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };

    let font = match &args.caption {
        Some(_) => match CaptionFont::load(&args.font) {
            Ok(font) => Some(font),
            Err(e) => {
                eprintln!(
                    "emo-gif: {e} (set EMO_CAPTION_FONT or --font; bash infra/ensure-font.sh makes it)"
                );
                return ExitCode::FAILURE;
            }
        },
        None => None,
    };
    let captioning = args
        .caption
        .as_ref()
        .zip(font.as_ref())
        .map(|(caption, font)| Captioning { caption, font });

    let started = Instant::now();
    let cpu_before = Usage::now();
    let converted = emo::gif::mp4_to_gif(&args.ffmpeg, &args.input, &args.settings, captioning);
    let wall = started.elapsed();
    let used = Usage::now().since(&cpu_before);
    let sticker = match converted {
        Ok(sticker) => sticker,
        Err(e) => {
            eprintln!("emo-gif: {}: {e}", args.input.display());
            return ExitCode::FAILURE;
        }
    };
    if let Err(e) = std::fs::write(&args.output, &sticker.gif) {
        eprintln!("emo-gif: cannot write {}: {e}", args.output.display());
        return ExitCode::FAILURE;
    }
    println!("output: {}", args.output.display());
    println!("bytes: {}", sticker.gif.len());
    println!("width: {}", sticker.width);
    println!("height: {}", sticker.height);
    println!("frames: {}", sticker.frames);
    println!("quality: {}", sticker.quality);
    println!("fps: {}", sticker.fps);
    println!("passes: {}", sticker.passes);
    println!("trial_frames: {}", sticker.trial_frames);
    println!("method: {}", sticker.method.as_str());
    println!("wall_s: {:.3}", wall.as_secs_f64());
    println!("cpu_s: {:.3}", used.cpu_s);
    println!("peak_rss_mb: {:.1}", used.self_peak_mb);
    println!("ffmpeg_peak_rss_mb: {:.1}", used.children_peak_mb);
    if let Some(path) = &args.reference_out {
        let written =
            emo::gif::reference_frames(&args.ffmpeg, &args.input, &args.settings, captioning)
                .map_err(|e| e.to_string())
                .and_then(|(_, _, rgb)| std::fs::write(path, rgb).map_err(|e| e.to_string()));
        if let Err(e) = written {
            eprintln!("emo-gif: the reference frames to {}: {e}", path.display());
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}

fn parse(args: &[String]) -> Result<Args, String> {
    let (mut settings, mut ffmpeg, mut font) = Env::process(|env| {
        gif_settings(env)
            .map(|g| (g, ffmpeg_path(env), caption_font_path(env)))
            .map_err(|e| e.to_string())
    })?;
    let (mut caption, mut position, mut reference_out) = (None, None, None);
    let mut paths = Vec::new();
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        let Some(flag) = arg.strip_prefix("--") else {
            paths.push(PathBuf::from(arg));
            continue;
        };
        let (name, value) = match flag.split_once('=') {
            Some((name, value)) => (name, value.to_owned()),
            None => (
                flag,
                rest.next()
                    .ok_or_else(|| format!("--{flag} needs a value"))?
                    .clone(),
            ),
        };
        match name {
            "max-side" => settings.max_side = number(name, &value)?,
            "fps" => settings.fps = number(name, &value)?,
            "max-bytes" => settings.max_bytes = number(name, &value)?,
            "quality" => settings.quality = number(name, &value)?,
            "min-quality" => settings.min_quality = number(name, &value)?,
            "min-fps" => settings.min_fps = number(name, &value)?,
            "ffmpeg" => ffmpeg = PathBuf::from(value),
            "caption" => caption = Some(value),
            "caption-position" => position = Some(value),
            "font" => font = PathBuf::from(value),
            "reference-out" => reference_out = Some(PathBuf::from(value)),
            _ => return Err(format!("unknown option --{name}")),
        }
    }
    settings.validate().map_err(|e| e.to_string())?;
    let caption = Caption::parse(caption.as_deref(), position.as_deref())
        .map_err(|e| format!("--caption: {e}"))?;
    match <[PathBuf; 2]>::try_from(paths) {
        Ok([input, output]) => Ok(Args {
            input,
            output,
            settings,
            ffmpeg,
            caption,
            font,
            reference_out,
        }),
        Err(paths) => Err(format!(
            "expected IN.mp4 and OUT.gif, got {} path(s)",
            paths.len()
        )),
    }
}

fn number<T: std::str::FromStr>(name: &str, value: &str) -> Result<T, String>
where
    T::Err: std::fmt::Display,
{
    value
        .trim()
        .parse()
        .map_err(|e| format!("--{name} {value:?}: {e}"))
}

/// CPU time of this process and its waited-for children (ffmpeg), and their peak RSS.
struct Usage {
    cpu_s: f64,
    self_peak_mb: f64,
    children_peak_mb: f64,
}

impl Usage {
    fn now() -> Self {
        let me = rusage(libc::RUSAGE_SELF);
        let children = rusage(libc::RUSAGE_CHILDREN);
        let seconds = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
        Self {
            cpu_s: seconds(me.ru_utime)
                + seconds(me.ru_stime)
                + seconds(children.ru_utime)
                + seconds(children.ru_stime),
            // Linux reports ru_maxrss in KiB.
            self_peak_mb: me.ru_maxrss as f64 / 1024.0,
            children_peak_mb: children.ru_maxrss as f64 / 1024.0,
        }
    }

    fn since(self, before: &Self) -> Self {
        Self {
            cpu_s: self.cpu_s - before.cpu_s,
            ..self
        }
    }
}

fn rusage(who: libc::c_int) -> libc::rusage {
    // SAFETY: getrusage only writes the struct it is given, which is plain integers, so a zeroed
    // one is a valid starting value; RUSAGE_SELF and RUSAGE_CHILDREN are always accepted.
    unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(who, &mut usage);
        usage
    }
}
