#!/usr/bin/env bash
# Writes a ~1 MB mixed-language UTF-8 text for the tokenizer benchmark, built only from text that
# Debian packages ship, so that it can be regenerated anywhere:
#   bible-kjv   the King James Bible (English prose, public domain) through its `bible` command
#   iso-codes   country and language names translated into many languages (.mo catalogs)
#   coreutils, bash, dpkg, apt, grep, tar, sed: translated program messages (.mo catalogs)
#   gettext     msgunfmt, to read the catalogs
# The text alternates ~4 KB blocks of English with blocks of the other languages, so every
# stretch of the file mixes scripts (Latin, Cyrillic, Greek, CJK, Hangul, Arabic, Hebrew,
# Devanagari, Thai) with punctuation, digits and format strings.
#
#   bench/tokenizer/make_mixed_text.sh [OUT]      (default bench/tokenizer/data/mixed_1mb.txt)
#   apt-get install -y bible-kjv iso-codes gettext   (if missing)
set -euo pipefail
out=${1:-$(dirname "$0")/data/mixed_1mb.txt}
mkdir -p "$(dirname "$out")"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

for cmd in bible msgunfmt python3; do
    command -v "$cmd" >/dev/null || { echo "missing $cmd (apt-get install bible-kjv gettext python3)" >&2; exit 1; }
done

bible -f "Gen1:1-Rev22:21" > "$work/english.txt"

langs="ar de el es fr he hi ja ko pl ru th tr uk vi zh_CN"
domains="iso_3166-1 iso_639-3 coreutils bash dpkg apt grep tar sed"
for lang in $langs; do
    for domain in $domains; do
        mo=/usr/share/locale/$lang/LC_MESSAGES/$domain.mo
        [ -f "$mo" ] && msgunfmt --no-wrap "$mo" -o "$work/$lang.$domain.po" 2>/dev/null || true
    done
done

python3 - "$work" "$out" "$langs" "$domains" <<'PY'
import ast, glob, os, sys
work, out, langs, domains = sys.argv[1], sys.argv[2], sys.argv[3].split(), sys.argv[4].split()
TARGET = 1_000_000
BLOCK = 4096

def msgstrs(path):
    """The translated strings of a .po file, in file order (msgunfmt sorts them by msgid)."""
    raw = open(path, "rb").read()
    charset = "utf-8"
    marker = raw.find(b"charset=")
    if marker >= 0:
        charset = raw[marker + 8:].split(b"\\n")[0].split(b"\n")[0].strip().strip(b'"').decode("ascii", "replace") or "utf-8"
    try:
        text = raw.decode(charset)
    except (LookupError, UnicodeDecodeError):
        text = raw.decode("utf-8", "replace")
    texts, current, in_str = [], [], False
    for line in text.splitlines():
        line = line.rstrip("\n")
        if line.startswith("msgstr"):
            in_str, current = True, [line.split(" ", 1)[1]]
        elif in_str and line.startswith('"'):
            current.append(line)
        else:
            if in_str and current:
                s = "".join(ast.literal_eval(x) for x in current)
                if s.strip():
                    texts.append(s)
            in_str, current = False, []
    if in_str and current:
        s = "".join(ast.literal_eval(x) for x in current)
        if s.strip():
            texts.append(s)
    return texts

foreign = []
for lang in langs:
    for domain in domains:
        p = os.path.join(work, "%s.%s.po" % (lang, domain))
        if os.path.exists(p):
            foreign.extend(msgstrs(p)[1:])  # the first entry is the catalog header
english = open(os.path.join(work, "english.txt"), encoding="utf-8").read().split("\n")

def blocks(lines):
    buf, size = [], 0
    for line in lines:
        buf.append(line)
        size += len(line.encode()) + 1
        if size >= BLOCK:
            yield "\n".join(buf) + "\n"
            buf, size = [], 0
    if buf:
        yield "\n".join(buf) + "\n"

# Interleave foreign blocks from spread-out positions, so that all languages take part.
eng, frn = list(blocks(english)), list(blocks(foreign))
step = max(1, len(frn) // 160)
frn = frn[::step]
parts, total, i = [], 0, 0
while total < TARGET and (i < len(eng) or i < len(frn)):
    for src in (eng, frn):
        if i < len(src):
            parts.append(src[i])
            total += len(src[i].encode())
    i += 1
data = "".join(parts).encode()[:TARGET]
data = data[: len(data.decode("utf-8", "ignore").encode())]  # end on a whole character
open(out, "wb").write(data)
print("%s: %d bytes, %d characters" % (out, len(data), len(data.decode())))
PY
