#!/usr/bin/env python3
"""Demo trainer for the Cloud Training example workspace.

NOT SimpleTuner and not a diffusion model: a small, real, CPU-only training loop (Python standard
library only) that reads the same SimpleTuner configs, decodes the dataset's PNG images, and fits a
rank-r "LoRA" (W = B @ A) mapping hashed caption words to each image's mean colour by SGD. It prints
SimpleTuner-style progress lines, writes checkpoints and a final weights file, and can resume from the
latest checkpoint — enough to exercise every part of the extension without a GPU.
"""
import argparse, hashlib, json, math, os, random, re, struct, sys, time, zlib


def load_config(path):
    text = open(path, encoding="utf-8").read()
    raw = json.loads(text)
    return {k.lstrip("-"): v for k, v in raw.items()}


def decode_png(path):
    """Mean (r, g, b) in 0..1 of an 8-bit RGB/RGBA PNG, with all five scanline filters."""
    data = open(path, "rb").read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError(f"{path}: not a PNG")
    pos, idat, width = 8, b"", None
    while pos < len(data):
        (length,), ctype = struct.unpack(">I", data[pos:pos + 4]), data[pos + 4:pos + 8]
        body = data[pos + 8:pos + 8 + length]
        if ctype == b"IHDR":
            width, height, depth, color = struct.unpack(">IIBB", body[:10])
            if depth != 8 or color not in (2, 6):
                raise ValueError(f"{path}: only 8-bit RGB/RGBA PNGs are supported by the demo trainer")
            bpp = 3 if color == 2 else 4
        elif ctype == b"IDAT":
            idat += body
        pos += 12 + length
    raw, stride = zlib.decompress(idat), width * bpp
    prev, sums, i = bytearray(stride), [0, 0, 0], 0
    for _ in range(height):
        ftype, line = raw[i], bytearray(raw[i + 1:i + 1 + stride])
        i += 1 + stride
        for x in range(stride):
            a = line[x - bpp] if x >= bpp else 0
            b, c = prev[x], (prev[x - bpp] if x >= bpp else 0)
            if ftype == 1: line[x] = (line[x] + a) & 255
            elif ftype == 2: line[x] = (line[x] + b) & 255
            elif ftype == 3: line[x] = (line[x] + (a + b) // 2) & 255
            elif ftype == 4:
                p = a + b - c; pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        for x in range(0, stride, bpp):
            sums[0] += line[x]; sums[1] += line[x + 1]; sums[2] += line[x + 2]
        prev = line
    n = width * height * 255.0
    return [s / n for s in sums]


def caption_features(caption, dim):
    v = [0.0] * dim
    for word in re.findall(r"[a-z]+", caption.lower()):
        v[int(hashlib.sha256(word.encode()).hexdigest(), 16) % dim] += 1.0
    norm = math.sqrt(sum(x * x for x in v)) or 1.0
    return [x / norm for x in v]


def load_samples(dataloader_path, root):
    backends = json.load(open(dataloader_path, encoding="utf-8"))
    if isinstance(backends, dict):
        backends = backends.get("datasets", [])
    samples = []
    for b in backends:
        if b.get("disabled") or b.get("dataset_type", "image") != "image" or b.get("type", "local") != "local":
            continue
        folder = b["instance_data_dir"]
        folder = folder if os.path.isabs(folder) else os.path.join(root, folder)
        for name in sorted(os.listdir(folder)):
            if not name.lower().endswith(".png"):
                continue
            cap_path = os.path.join(folder, os.path.splitext(name)[0] + ".txt")
            caption = open(cap_path, encoding="utf-8").read().strip() if os.path.exists(cap_path) else b.get("instance_prompt", name)
            samples.extend([(caption, decode_png(os.path.join(folder, name)))] * int(b.get("repeats", 0) + 1))
    if not samples:
        raise SystemExit(f"No images found through {dataloader_path}")
    return samples


def latest_checkpoint(output_dir):
    best = None
    if os.path.isdir(output_dir):
        for name in os.listdir(output_dir):
            m = re.fullmatch(r"checkpoint-(\d+)", name)
            if m and os.path.exists(os.path.join(output_dir, name, "lora.json")):
                best = max(best or 0, int(m.group(1)))
    return best


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", required=True)
    ap.add_argument("--output_dir")
    ap.add_argument("--resume_from_checkpoint")
    args = ap.parse_args()
    cfg = load_config(args.config)
    root = os.path.dirname(os.path.dirname(os.path.abspath(args.config)))
    output_dir = args.output_dir or os.path.join(root, cfg.get("output_dir", "output"))
    os.makedirs(output_dir, exist_ok=True)
    dataloader = cfg.get("data_backend_config", "config/multidatabackend.json")
    dataloader = dataloader if os.path.isabs(dataloader) else os.path.join(root, dataloader)

    steps, lr = int(cfg.get("max_train_steps", 100)), float(cfg.get("learning_rate", 1e-3))
    rank, dim, every = int(cfg.get("lora_rank", 4)), 32, int(cfg.get("checkpointing_steps", 0) or 0)
    delay = float(os.environ.get("DEMO_STEP_SECONDS", "0.05"))
    rng = random.Random(int(cfg.get("seed", 0)))

    print(f"Loading dataloader config {dataloader}", flush=True)
    samples = load_samples(dataloader, root)
    print(f"Found {len(samples)} training samples (with repeats); rank={rank} lr={lr} max_train_steps={steps}", flush=True)

    A = [[rng.gauss(0, 0.1) for _ in range(dim)] for _ in range(rank)]
    B = [[0.0] * rank for _ in range(3)]  # LoRA: B starts at zero
    start = 0
    resume = args.resume_from_checkpoint or cfg.get("resume_from_checkpoint")
    if resume:
        step = latest_checkpoint(output_dir) if resume == "latest" else int(str(resume).split("-")[-1])
        if step:
            state = json.load(open(os.path.join(output_dir, f"checkpoint-{step}", "lora.json")))
            A, B, start = state["A"], state["B"], step
            print(f"Resuming from checkpoint-{step}", flush=True)

    feats = [(caption_features(c, dim), y) for c, y in samples]
    t0, ema = time.time(), None
    for step in range(start + 1, steps + 1):
        x, y = feats[rng.randrange(len(feats))]
        h = [sum(a * xi for a, xi in zip(row, x)) for row in A]
        pred = [sum(b * hi for b, hi in zip(row, h)) for row in B]
        err = [p - t for p, t in zip(pred, y)]
        loss = sum(e * e for e in err) / 3
        grad_h = [sum(err[k] * B[k][r] for k in range(3)) for r in range(rank)]
        for k in range(3):
            for r in range(rank):
                B[k][r] -= lr * 2 * err[k] * h[r]
        for r in range(rank):
            for j in range(dim):
                A[r][j] -= lr * 2 * grad_h[r] * x[j]
        ema = loss if ema is None else 0.9 * ema + 0.1 * loss
        elapsed = time.time() - t0
        rate = (step - start) / elapsed if elapsed > 0 else 0.0
        eta = (steps - step) / rate if rate else 0
        pct = int(100 * step / steps)
        bar = ("█" * (pct // 10)).ljust(10)
        print(f"Epoch 1/1, Steps: {pct:3d}%|{bar}| {step}/{steps} [{int(elapsed)//60:02d}:{int(elapsed)%60:02d}<{int(eta)//60:02d}:{int(eta)%60:02d}, {rate:.2f}it/s, lr={lr:g}, step_loss={ema:.5f}]", flush=True)
        if every and step % every == 0 and step < steps:
            ck = os.path.join(output_dir, f"checkpoint-{step}")
            os.makedirs(ck, exist_ok=True)
            json.dump({"A": A, "B": B, "step": step}, open(os.path.join(ck, "lora.json"), "w"))
            print(f"Saved checkpoint to {ck}", flush=True)
        time.sleep(delay)

    weights = os.path.join(output_dir, "pytorch_lora_weights.json")
    json.dump({"format": "demo-lora", "rank": rank, "A": A, "B": B, "steps": steps, "final_loss": ema}, open(weights, "w"))
    print(f"Training complete: final loss {ema:.5f}; weights written to {weights}", flush=True)


if __name__ == "__main__":
    main()
