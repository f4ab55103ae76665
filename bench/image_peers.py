#!/usr/bin/python3
"""Pixels benchmark, the peers' side: Pillow and OpenCV on the image and
coefficients that bench/image_bench wrote, then the table beside rcpt's
figures (medians and ratios).

    /usr/bin/python3 bench/image_peers.py DIR RUNS RCPT_RESULTS

Run it with Debian's python3 (python3-pil, python3-opencv); bench/image.sh does.
"""
import io
import statistics
import subprocess
import sys
import time

import cv2
import numpy as np
from PIL import Image


CPU = {}  # fn -> median process CPU time (all threads), ms


def med(fn, runs):
    ts, cs = [], []
    out = None
    for _ in range(runs):
        t0, c0 = time.perf_counter(), time.process_time()
        out = fn()
        ts.append((time.perf_counter() - t0) * 1e3)
        cs.append((time.process_time() - c0) * 1e3)
    CPU[fn] = statistics.median(cs)
    return statistics.median(ts), out


def cv_matrix_from_pil(c, perspective):
    """PIL maps the pixel centre (x+.5, y+.5) to a source position whose pixel
    centres are at +.5; OpenCV maps integer pixel positions.  Shift both sides
    so that the two libraries sample the same points."""
    if perspective:
        m = np.array([[c[0], c[1], c[2]], [c[3], c[4], c[5]], [c[6], c[7], 1.0]])
    else:
        m = np.array([[c[0], c[1], c[2]], [c[3], c[4], c[5]], [0, 0, 1.0]])
    t_in = np.array([[1, 0, 0.5], [0, 1, 0.5], [0, 0, 1.0]])
    t_out = np.array([[1, 0, -0.5], [0, 1, -0.5], [0, 0, 1.0]])
    return t_out @ m @ t_in


def rss_child(lib, d, photo):
    """Peak RSS (VmHWM) of one decode + warp + PNG encode in a fresh
    interpreter (includes the interpreter and the library import)."""
    w, h, c = photo
    if lib == "pillow":
        code = (
            "from PIL import Image\n"
            f"im = Image.open({d + '/photo.jpg'!r}); im.load()\n"
            f"out = im.transform(({w}, {h}), Image.Transform.PERSPECTIVE, {c!r}, Image.Resampling.BICUBIC)\n"
            "import io; b = io.BytesIO(); out.save(b, 'PNG')\n")
    else:
        m = cv_matrix_from_pil(c, True).tolist()
        code = (
            "import cv2, numpy as np\n"
            f"im = cv2.imread({d + '/photo.jpg'!r})\n"
            f"out = cv2.warpPerspective(im, np.array({m!r}), ({w}, {h}), "
            "flags=cv2.INTER_CUBIC | cv2.WARP_INVERSE_MAP)\n"
            "ok, b = cv2.imencode('.png', out)\n")
    # VmHWM of the child itself: ru_maxrss would carry the parent's peak over exec
    code += ("print([l.split()[1] for l in open('/proc/self/status') "
             "if l.startswith('VmHWM:')][0])\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return int(out.stdout.strip()) / 1024.0


def main():
    d, runs, ours = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    rcpt = {}
    for line in open(ours):
        parts = line.split()
        if len(parts) == 3 and parts[0] == "rcpt":
            rcpt[parts[1]] = float(parts[2])
    coeffs = {}
    for line in open(d + "/coeffs.txt"):
        p = line.split()
        coeffs[p[0]] = (int(p[1]), int(p[2]), tuple(float(v) for v in p[3:]))
    data = open(d + "/photo.jpg", "rb").read()
    pw, ph, pc = coeffs["photo"]
    sw, sh, sc = coeffs["scan"]
    cv2.setNumThreads(-1)  # OpenCV's default: all cores

    def pil_decode():
        im = Image.open(io.BytesIO(data))
        im.load()
        return im

    def cv_decode():
        return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)

    res = {}
    res["pillow", "decode_ms"], pim = med(pil_decode, runs)
    res["opencv", "decode_ms"], cim = med(cv_decode, runs)
    res["pillow", "photo_warp_ms"], pwarp = med(
        lambda: pim.transform((pw, ph), Image.Transform.PERSPECTIVE, pc, Image.Resampling.BICUBIC), runs)
    mp = cv_matrix_from_pil(pc, True)
    fp = lambda: pim.transform((pw, ph), Image.Transform.PERSPECTIVE, pc, Image.Resampling.BICUBIC)
    fc = lambda: cv2.warpPerspective(cim, mp, (pw, ph), flags=cv2.INTER_CUBIC | cv2.WARP_INVERSE_MAP)
    res["opencv", "photo_warp_ms"], cwarp = med(fc, runs)
    res["opencv", "photo_warp_cpu_ms"] = CPU[fc]
    med(fp, 1)
    res["pillow", "photo_warp_cpu_ms"] = CPU[fp]

    def pil_png():
        b = io.BytesIO()
        pwarp.save(b, "PNG")
        return b.getbuffer().nbytes

    def cv_png():
        ok, b = cv2.imencode(".png", cwarp)
        return len(b)

    res["pillow", "png_encode_ms"], res["pillow", "png_bytes"] = med(pil_png, runs)
    res["opencv", "png_encode_ms"], res["opencv", "png_bytes"] = med(cv_png, runs)
    res["opencv", "png_encode_cpu_ms"] = CPU[cv_png]
    res["pillow", "png_encode_cpu_ms"] = CPU[pil_png]
    res["pillow", "scan_crop_ms"], _ = med(
        lambda: pim.transform((sw, sh), Image.Transform.AFFINE, sc, Image.Resampling.BICUBIC), runs)
    ma = cv_matrix_from_pil(sc, False)[:2]
    fa = lambda: cv2.warpAffine(cim, ma, (sw, sh), flags=cv2.INTER_CUBIC | cv2.WARP_INVERSE_MAP)
    res["opencv", "scan_crop_ms"], _ = med(fa, runs)
    res["opencv", "scan_crop_cpu_ms"] = CPU[fa]
    fpa = lambda: pim.transform((sw, sh), Image.Transform.AFFINE, sc, Image.Resampling.BICUBIC)
    med(fpa, 1)
    res["pillow", "scan_crop_cpu_ms"] = CPU[fpa]
    res["pillow", "peak_rss_mb"] = rss_child("pillow", d, coeffs["photo"])
    res["opencv", "peak_rss_mb"] = rss_child("opencv", d, coeffs["photo"])

    # our warp against Pillow's on this photo: pixel differences
    ours_png = Image.open(d + "/rcpt_crop.png")
    a = np.asarray(ours_png, dtype=np.int16)
    b = np.asarray(pwarp, dtype=np.int16)
    diff = np.abs(a - b)

    print(f"image: {len(data)} bytes JPEG 3024x4032, PHOTO crop {pw}x{ph}, SCAN crop {sw}x{sh}, "
          f"medians of {runs} runs (ms); ratio = peer / rcpt (> 1: rcpt faster); "
          f"*_cpu_ms = process CPU time of all threads (Pillow: 1 run), less disturbed by other load")
    print(f"{'':18}{'rcpt':>10}{'pillow':>10}{'opencv':>10}{'pil/rcpt':>10}{'cv/rcpt':>10}")
    for k in ("decode_ms", "photo_warp_ms", "photo_warp_cpu_ms", "png_encode_ms",
              "png_encode_cpu_ms", "png_bytes",
              "scan_crop_ms", "scan_crop_cpu_ms", "peak_rss_mb"):
        r = rcpt.get(k, float("nan"))
        p, c = res["pillow", k], res["opencv", k]
        fmt = "{:>10.0f}" if k == "png_bytes" else "{:>10.1f}"
        print(f"{k:18}" + fmt.format(r) + fmt.format(p) + fmt.format(c) +
              f"{p / r:>10.2f}{c / r:>10.2f}")
    fw = [l.split(":", 1)[1].strip() for l in cv2.getBuildInformation().splitlines()
          if "Parallel framework" in l]
    print(f"threads: rcpt warp {int(rcpt.get('warp_threads', 0))} (rows shared out 16 at a time), "
          f"rcpt PNG encode {int(rcpt.get('png_threads', 0))} (strips of ~1 MB of rows); "
          f"OpenCV warp {cv2.getNumThreads()} (its default, {fw[0] if fw else '?'}); Pillow 1; "
          f"decode 1 thread on every side, PNG encode 1 thread in Pillow and OpenCV")
    print(f"decoded image: {rcpt.get('decoded_mb', float('nan')):.1f} MB; "
          f"rcpt peak RSS / decoded = {rcpt['peak_rss_mb'] / rcpt['decoded_mb']:.2f}")
    print(f"rcpt warp vs Pillow warp on this photo: max |diff| = {int(diff.max())}, "
          f"differing samples = {int((diff > 0).sum())} of {diff.size}")


if __name__ == "__main__":
    main()
