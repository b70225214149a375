#!/usr/bin/env python3
"""Pack a trained demo-model folder into a few files for a transfer with file-count limits.

  pack_outputs.py --src MODEL_DIR --dst DEST_DIR [--log RUN_LOG]

Every *.safetensors file is copied as it is (the weight shards and golden.safetensors); all
other files go into DEST_DIR/meta.tar, together with MANIFEST.sha256 covering every file, so
that the folder is restored with

  cp DEST_DIR/*.safetensors MODEL_DIR/ && tar -xf DEST_DIR/meta.tar -C MODEL_DIR &&
  (cd MODEL_DIR && sha256sum -c MANIFEST.sha256)

It refuses (exit 1) when the result would exceed the limits given, but always writes meta.tar
with whatever exists, so that logs come back even from a failed run.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import shutil
import sys
import tarfile
from pathlib import Path

MIB = 1 << 20


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o644
    tar.addfile(info, io.BytesIO(data))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--src", type=Path, required=True)
    parser.add_argument("--dst", type=Path, required=True)
    parser.add_argument("--log", type=Path, default=None, help="a run log to include in meta.tar")
    parser.add_argument("--max-files", type=int, default=8)
    parser.add_argument("--max-mib", type=float, default=16.0, help="largest file allowed, in MiB")
    args = parser.parse_args()

    args.dst.mkdir(parents=True, exist_ok=True)
    files = sorted(p for p in args.src.iterdir() if p.is_file()) if args.src.is_dir() else []
    big = [p for p in files if p.name.endswith(".safetensors")]
    small = [p for p in files if p not in big]

    manifest = "".join(f"{sha256_file(p)}  {p.name}\n" for p in files)
    with tarfile.open(args.dst / "meta.tar", "w", format=tarfile.PAX_FORMAT) as tar:
        for p in small:
            tar.add(p, arcname=p.name)
        add_bytes(tar, "MANIFEST.sha256", manifest.encode())
        if args.log is not None and args.log.is_file():
            tar.add(args.log, arcname="run.log")
    for p in big:
        shutil.copyfile(p, args.dst / p.name)

    out = sorted(args.dst.iterdir())
    problems = []
    if len(out) > args.max_files:
        problems.append(f"{len(out)} files, the limit is {args.max_files}")
    for p in out:
        size = p.stat().st_size
        print(f"{size / MIB:8.2f} MiB  {p}")
        if size > args.max_mib * MIB:
            problems.append(f"{p.name} is {size / MIB:.2f} MiB, the limit is {args.max_mib} MiB")
    packed = [p.name for p in small] + ["MANIFEST.sha256"]
    if args.log is not None and args.log.is_file():
        packed.append("run.log")
    print(f"meta.tar holds: {', '.join(packed)}")
    if not files:
        problems.append(f"{args.src} holds no files")
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
