#!/usr/bin/env python3
"""Write the seed corpora of tests/fuzz/corpus/<target>/ (the files are committed;
re-run after a format change).  Every seed is made here: small documents written
by hand in the shape of the real ones (the bar receipt's style is imitated, never
copied: /work/shared data stays out of the repo), excerpts of the project's own
examples/, and binary files produced by the sqlite3 CLI and by rcpt itself.

    python3 tests/fuzz/make_corpus.py [RCPT_BIN]     (RCPT_BIN: build/rcpt, for images)
"""
import json, os, struct, subprocess, sys, tempfile, shutil

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
OUT = os.path.join(HERE, "corpus")
RCPT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "build", "rcpt")

def put(target, name, data):
    d = os.path.join(OUT, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode("utf-8")
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)

def compact(v):
    return json.dumps(v, separators=(",", ":"), ensure_ascii=False)

# ---- OCR JSON -------------------------------------------------------------------------
def load(p):
    with open(os.path.join(ROOT, p)) as f:
        return json.load(f)

def first_lines(doc, n, max_words=3):
    lines = []
    for line in doc["lines"][:n]:
        line = dict(line)
        line["words"] = line.get("words", [])[:max_words]
        lines.append(line)
    return {"lines": lines}

def geom(text, x, y, w, h, conf=1, extra=None, order=0):
    g = {"text": text,
         "bounding_box": {"x": x, "y": y, "width": w, "height": h},
         "top_left": {"x": x, "y": y + h}, "top_right": {"x": x + w, "y": y + h},
         "bottom_left": {"x": x, "y": y}, "bottom_right": {"x": x + w, "y": y},
         "angle_degrees": 0, "angle_radians": 0, "confidence": conf}
    if extra:
        g.update(extra)
    items = list(g.items())
    # the bar receipt's keys come in no fixed order: rotate them per record
    k = order % len(items)
    return dict(items[k:] + items[:k])

def word(text, x, y, w, h, order, ed=None):
    n = len(text)
    letters = [geom(c, x + i * w / n, y, w / n, h, 1, None, order + i + 1) for i, c in enumerate(text)]
    extra = {"letters": letters}
    if ed:
        extra["extracted_data"] = ed
    return geom(text, x, y, w, h, 1, extra, order)

def bar_style():
    addr = {"type": "address", "value": "12 Canal Street New Orleans, LA 70112"}
    date = {"value": "2023-03-04 21:15:00 +0000", "type": "date"}
    l1 = geom("Tab: #7", 0.25, 0.70, 0.12, 0.016, 1,
              {"words": [word("Tab:", 0.25, 0.70, 0.07, 0.016, 3), word("#7", 0.33, 0.70, 0.04, 0.016, 5)]}, 1)
    l2 = geom("12 Canal St", 0.2, 0.8, 0.3, 0.02, 0.5,
              {"words": [word("12", 0.2, 0.8, 0.05, 0.02, 2, addr), word("Canal", 0.26, 0.8, 0.12, 0.02, 4, addr)]}, 2)
    l3 = geom("3/4/23 9:15 PM", 0.2, 0.6, 0.3, 0.02, 0.3,
              {"words": [word("3/4/23", 0.2, 0.6, 0.12, 0.02, 6, date)]}, 7)
    return {"lines": [l1, l2, l3]}

def unicode_doc():
    e_acute = "e\u0301"
    flag = "\U0001F1FA\U0001F1F8"
    w1 = geom("Caf" + e_acute, 0.1, 0.5, 0.2, 0.03, 0.9,
              {"letters": [geom(c, 0.1 + i * 0.05, 0.5, 0.05, 0.03, 0.9) for i, c in enumerate(["C", "a", "f", e_acute])]})
    w2 = geom(flag + "\u0000x", 0.4, 0.5, 0.1, 0.03, 1e-7, {"letters": [geom(flag, 0.4, 0.5, 0.05, 0.03, 1)],
                                                         "extracted_data": None})
    line = geom("Caf" + e_acute + " " + flag, 0.1, 0.5, 0.4, 0.03, 1, {"words": [w1, w2]})
    line["bounding_box"]["x"] = -0.0
    line["angle_degrees"] = -1.5e-3
    line["angle_radians"] = 2.2250738585072014e-308
    return {"lines": [line], "classification": "NATIVE", "barcodes": []}

def ocr():
    put("ocr", "native_first_line.json", compact(first_lines(load("examples/native/receipt.ocr.json"), 1)))
    put("ocr", "photo_two_lines.json", compact(first_lines(load("examples/photo/photo.ocr.json"), 2, 2)))
    put("ocr", "scan_one_line.json", compact(first_lines(load("examples/scan/page.ocr.json"), 1, 2)))
    put("ocr", "bar_style.json", compact(bar_style()))
    put("ocr", "bar_style_pretty.json", json.dumps(bar_style(), indent=1))
    put("ocr", "unicode.json", json.dumps(unicode_doc()))
    put("ocr", "empty.json", '{"lines":[]}')
    put("ocr", "no_words.json", compact({"lines": [geom("TOTAL", 0.1, 0.1, 0.2, 0.02, 1)]}))
    bad = bar_style()
    del bad["lines"][0]["words"][0]["letters"][1]["confidence"]
    put("ocr", "missing_confidence.json", compact(bad))

# ---- JSON -----------------------------------------------------------------------------
def jsondocs():
    put("json", "numbers.json", "[0,-0,1,-1,0.1,1e308,1.7976931348623157e308,5e-324,2.2250738585072011e-308,"
        "9007199254740993,-9223372036854775808,9223372036854775808,123456789012345678901234567890,"
        "1E+2,1e-400,0.30000000000000004,4.35,1.5e-7]")
    put("json", "strings.json", '["plain","esc \\" \\\\ \\/ \\b\\f\\n\\r\\t","\\u00e9\\u20ac\\ud83d\\ude00",'
        '"nul\\u0000inside","caf\u00e9 \U0001F1FA\U0001F1F8",""]')
    put("json", "nested.json", '{"a":[{"b":[[],{}]},null,true,false],"c":{"d":{"e":[1,[2,[3]]]}}}')
    put("json", "dup_keys.json", '{"a":1,"b":2,"a":{"x":[3]},"b":null}')
    put("json", "bom.json", "\ufeff" + '{"lines":[]}')
    put("json", "ws.json", ' \t\r\n{ "k" : [ 1 , 2 ] } \n')
    put("json", "manifest.json", compact({"format": "rcpt-vec", "format_version": 1, "kind": "snapshot",
        "collection": "lines", "dimension": 3, "count": 2, "version": "20240101T000000Z-ab12",
        "sha256": "0" * 64, "bytes": 2048, "created_at": "2024-01-01T00:00:00Z"}))
    with open(os.path.join(ROOT, "examples/events/sqs_ocr_event.json"), "rb") as f:
        put("json", "sqs_event.json", f.read())

# ---- events ---------------------------------------------------------------------------
IMG = "f9d54f51-a0c6-49b6-bbe2-12f72ad3744e"
JOB = "665346a9-2679-408c-aad0-f98742d60d35"
RUN = "3b9f2f6e-8d1c-4b7e-9a51-2f4f0c1d7e88"

def sqs(body, mid="5b82ddbd-e2d7-4b79-aa80-ce799dddc242", attrs=None):
    return {"messageId": mid, "receiptHandle": "AQEBxyz", "body": body if isinstance(body, str) else compact(body),
            "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1700000000000"},
            "messageAttributes": attrs or {}, "md5OfBody": "00", "eventSource": "aws:sqs",
            "eventSourceARN": "arn:aws:sqs:us-east-1:000000000000:q", "awsRegion": "us-east-1"}

def stream(name, new=None, old=None, seq="100", eid="e1"):
    d = {"Keys": {"PK": {"S": "IMAGE#" + IMG}}, "SequenceNumber": seq, "SizeBytes": 120,
         "StreamViewType": "NEW_AND_OLD_IMAGES"}
    if new is not None: d["NewImage"] = new
    if old is not None: d["OldImage"] = old
    return {"eventID": eid, "eventName": name, "eventVersion": "1.1", "eventSource": "aws:dynamodb",
            "awsRegion": "us-east-1", "dynamodb": d}

RUN_IMG = {"PK": {"S": "IMAGE#" + IMG}, "SK": {"S": "RECEIPT#00001#COMPACTION_RUN#" + RUN},
           "TYPE": {"S": "COMPACTION_RUN"}, "run_id": {"S": RUN}, "image_id": {"S": IMG},
           "receipt_id": {"N": "1"}, "lines_delta_prefix": {"S": "lines/delta/" + RUN + "/"},
           "words_delta_prefix": {"S": "words/delta/" + RUN + "/"}, "created_at": {"S": "2024-01-01T00:00:00+00:00"}}
MD_IMG = {"PK": {"S": "IMAGE#" + IMG}, "SK": {"S": "RECEIPT#00001#METADATA"}, "TYPE": {"S": "RECEIPT_METADATA"},
          "merchant_name": {"S": "Pine Street Hardware"}, "place_id": {"S": "ChIJabc"},
          "address": {"S": "12 Pine St"}, "phone_number": {"S": "(805) 555-0100"},
          "matched_fields": {"SS": ["name", "phone"]}, "validated_by": {"S": "PHONE_LOOKUP"},
          "timestamp": {"S": "2024-01-01T00:00:00+00:00"}, "reasoning": {"NULL": True}}

def events():
    with open(os.path.join(ROOT, "examples/events/sqs_ocr_event.json"), "rb") as f:
        put("event", "sqs_ocr_event.json", f.read())
    put("event", "sqs_mixed.json", compact({"Records": [
        sqs({"job_id": JOB, "image_id": IMG}, "m1"),
        sqs("not json", "m2"),
        sqs({"lines_key": "embed/lines.ndjson", "words_key": "embed/words.ndjson"}, "m3"),
        sqs([1, 2], "m4"), sqs({"other": True}, "m5")]}))
    put("event", "sqs_compaction.json", compact({"Records": [
        sqs({"source": "dynamodb_stream", "entity_type": "COMPACTION_RUN", "event_name": "INSERT",
             "entity_data": {"run_id": RUN, "image_id": IMG, "delta_s3_prefix": "lines/delta/" + RUN + "/"}},
            "c1", {"collection": {"stringValue": "lines", "dataType": "String"}}),
        sqs({"source": "dynamodb_stream", "entity_type": "RECEIPT_METADATA", "event_name": "MODIFY",
             "entity_data": {"image_id": IMG, "receipt_id": 1},
             "changes": {"merchant_name": {"old": "A", "new": "B"}}}, "c2"),
        sqs({"collection": "words", "source": "dynamodb_stream", "entity_type": "RECEIPT_WORD_LABEL",
             "entity_data": {}}, "c3")]}))
    put("event", "stream_run_insert.json", compact({"Records": [stream("INSERT", RUN_IMG)]}))
    put("event", "stream_metadata.json", compact({"Records": [
        stream("MODIFY", MD_IMG, dict(MD_IMG, merchant_name={"S": "Pine St Hardware"}), "101", "e2"),
        stream("REMOVE", None, MD_IMG, "102", "e3"),
        stream("INSERT", {"PK": {"S": "IMAGE#x"}, "SK": {"S": "IMAGE"}, "TYPE": {"S": "IMAGE"}}, None, "103", "e4")]}))
    put("event", "unknown.json", '{"detail-type":"Scheduled Event","source":"aws.events"}')
    put("event", "records_scalar.json", '{"Records":[1,"x",null]}')

# ---- S3 XML ---------------------------------------------------------------------------
def s3xml():
    put("s3xml", "list.xml", '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>b</Name><Prefix>lines/</Prefix>'
        '<KeyCount>2</KeyCount><MaxKeys>1000</MaxKeys><Delimiter>/</Delimiter><IsTruncated>true</IsTruncated>'
        '<NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=</NextContinuationToken>'
        '<Contents><Key>lines/snapshot/latest-pointer.txt</Key><LastModified>2024-01-01T00:00:00.000Z</LastModified>'
        '<ETag>&quot;9b2cf535f27731c974343645a3985328&quot;</ETag><Size>34</Size><StorageClass>STANDARD</StorageClass></Contents>'
        '<Contents><Key>lines/a&amp;b &#233;&#x20AC;</Key><LastModified>2024-01-02T03:04:05Z</LastModified>'
        '<ETag>"x-2"</ETag><Size>0</Size></Contents>'
        '<CommonPrefixes><Prefix>lines/delta/</Prefix></CommonPrefixes></ListBucketResult>')
    put("s3xml", "list_empty.xml", '<ListBucketResult><IsTruncated>false</IsTruncated><!-- none --></ListBucketResult>')
    put("s3xml", "list_cdata.xml", '<?xml version="1.0"?><ListBucketResult><Contents><Key><![CDATA[words/<odd>]]></Key>'
        '<Size>12</Size><ETag/></Contents></ListBucketResult>')
    put("s3xml", "error.xml", '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>NoSuchKey</Code>'
        '<Message>The specified key does not exist.</Message><Key>lines/x</Key><RequestId>4442587FB7D0A2F9</RequestId></Error>')
    put("s3xml", "error_signature.xml", '<Error><Code>SignatureDoesNotMatch</Code><Message>The request signature we '
        'calculated does not match &lt;the&gt; signature you provided.</Message><StringToSign>AWS4-HMAC-SHA256'
        '</StringToSign></Error>')

# ---- DynamoDB JSON --------------------------------------------------------------------
def dynamodb():
    put("dynamodb_json", "run_item.json", compact(RUN_IMG))
    put("dynamodb_json", "metadata_item.json", compact(MD_IMG))
    put("dynamodb_json", "nested.json", compact({"PK": {"S": "IMAGE#" + IMG}, "SK": {"S": "IMAGE"},
        "m": {"M": {"a": {"L": [{"N": "-1.5e-3"}, {"BOOL": False}, {"NULL": True}, {"S": "caf\u00e9\u0000"}]},
                    "b": {"M": {}}}}, "n": {"N": "12345678901234567890"}, "ss": {"SS": ["x", "y"]}}))
    put("dynamodb_json", "plain.json", compact({"place_id": "ChIJ", "rating": 4.5, "types": ["store", "point"],
        "geometry": {"location": {"lat": 34.1, "lng": -118.8}}, "open": True, "x": None, "n": -7}))

# ---- Places ---------------------------------------------------------------------------
def places():
    put("places", "find.json", compact({"candidates": [{"place_id": "ChIJA1", "name": "Pine Street Hardware",
        "formatted_address": "12 Pine St, Springfield, CA 90000, USA", "types": ["hardware_store", "store"],
        "business_status": "OPERATIONAL"}, {"place_id": "B2"}], "status": "OK"}))
    put("places", "details.json", json.dumps({"html_attributions": [], "result": {"place_id": "ChIJx",
        "name": "Caf\u00e9 \"Luna\"", "formatted_phone_number": "(805) 555-0100",
        "international_phone_number": "+1 805-555-0100", "website": None,
        "geometry": {"location": {"lat": 34.1761, "lng": -118.8487}, "viewport": {}}, "rating": 4.5,
        "user_ratings_total": 1234, "price_level": 2, "opening_hours": {"open_now": True},
        "vicinity": "12 Pine St", "plus_code": {"global_code": "8553"}}, "status": "OK"}, indent=3))
    put("places", "textsearch.json", compact({"html_attributions": [], "results": [{"place_id": "T", "name": "Vons",
        "formatted_address": "1 Main St", "geometry": {"location": {"lat": 1, "lng": 2}}}],
        "status": "OK", "next_page_token": "zzz"}))
    put("places", "autocomplete.json", compact({"predictions": [{"description": "12 Pine St, Springfield, CA",
        "place_id": "P", "types": ["premise", "geocode"], "terms": []}], "status": "OK"}))
    put("places", "denied.json", compact({"candidates": [], "error_message":
        "The provided API key is invalid. AIzaFuzzKey-0123456789", "status": "REQUEST_DENIED"}))
    put("places", "zero.json", compact({"results": [], "status": "ZERO_RESULTS"}))
    put("places", "quota.json", compact({"status": "OVER_QUERY_LIMIT", "error_message": "quota"}))

# ---- embeddings ------------------------------------------------------------------------
def emb_answer(rows, b64=False):
    data = []
    for i, r in enumerate(rows):
        e = __import__("base64").b64encode(struct.pack("<%df" % len(r), *r)).decode() if b64 else r
        data.append({"object": "embedding", "index": i, "embedding": e})
    return compact({"object": "list", "data": data, "model": "text-embedding-3-small",
                    "usage": {"prompt_tokens": 5, "total_tokens": 5}})

def embeddings():
    put("embeddings", "n1_d1.json", emb_answer([[1.0]]))
    put("embeddings", "n1_d3.json", emb_answer([[0.6, 0.0, -0.8]]))
    put("embeddings", "n1_d3_b64.json", emb_answer([[0.6, 0.0, -0.8]], True))
    put("embeddings", "n2_d4.json", emb_answer([[0.5, 0.5, 0.5, 0.5], [1, 2, 3, 4]]))
    rows = [[3, 4], [0.1, -0.2], [1e-3, 5]]
    d = json.loads(emb_answer(rows))
    d["data"].reverse()  # out of order: the index decides
    put("embeddings", "n3_d2_reversed.json", compact(d))
    put("embeddings", "n1_d8_b64.json", emb_answer([[0.1 * (i + 1) for i in range(8)]], True))
    put("embeddings", "error.json", compact({"error": {"message": "Rate limit reached", "type": "requests",
                                                        "code": "rate_limit_exceeded"}}))

# ---- vector files ---------------------------------------------------------------------
def f32(*v):
    return struct.pack("<%df" % len(v), *v).hex()

def vecfiles():
    if not shutil.which("sqlite3"):
        print("make_corpus: sqlite3 CLI missing, vecfile seeds not written", file=sys.stderr)
        return
    def make(name, kind, coll, dim, rows, version=""):
        with tempfile.TemporaryDirectory() as td:
            p = os.path.join(td, "v.db")
            sql = ["PRAGMA page_size=512;", "PRAGMA journal_mode=OFF;",
                   "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);",
                   "CREATE TABLE rows(id TEXT PRIMARY KEY, vec BLOB NOT NULL, document TEXT NOT NULL, metadata TEXT NOT NULL);"]
            meta = {"format": "rcpt-vec", "format_version": "1", "kind": kind, "collection": coll,
                    "dimension": str(dim), "count": str(len(rows)), "version": version,
                    "created_at": "2024-01-01T00:00:00Z"}
            for k, v in meta.items():
                sql.append("INSERT INTO meta VALUES('%s','%s');" % (k, v))
            for rid, vec, doc, md in sorted(rows):
                sql.append("INSERT INTO rows VALUES('%s',X'%s','%s','%s');" % (rid, vec, doc.replace("'", "''"),
                                                                              md.replace("'", "''")))
            sql.append("VACUUM;")
            subprocess.run(["sqlite3", p], input="\n".join(sql).encode(), check=True, stdout=subprocess.DEVNULL)
            with open(p, "rb") as f:
                put("vecfile", name, f.read())
    pre = "IMAGE#" + IMG + "#RECEIPT#00001#LINE#0000"
    make("delta_d2.db", "delta", "lines", 2, [
        (pre + "1", f32(0.6, 0.8), "PINE STREET HARDWARE",
         '{"image_id":"%s","line_id":1,"merchant_name":"Pine Street Hardware","receipt_id":1,"text":"PINE STREET HARDWARE"}' % IMG),
        (pre + "2", f32(1.0, 0.0), "TOTAL 12.50", '{"confidence":0.5,"ok":true,"x":null}')])
    make("snapshot_d3.db", "snapshot", "words", 3, [
        (pre + "1#WORD#00001", f32(0.0, 0.0, 1.0), "PINE", '{}'),
        (pre + "1#WORD#00002", f32(0.48, 0.6, 0.64), "", '{"word_id":2,"normalized_phone_10":"8055550100"}')],
        "20240101T000000Z-0001")
    make("empty_d1.db", "delta", "lines", 1, [])
    put("vecfile", "manifest.json", compact({"format": "rcpt-vec", "format_version": 1, "kind": "snapshot",
        "collection": "words", "dimension": 3, "count": 2, "version": "20240101T000000Z-0001",
        "sha256": "ab" * 32, "bytes": 2048, "created_at": "2024-01-01T00:00:00Z"}))

# ---- images ------------------------------------------------------------------------------
def png(w, h, depth, ctype, rows, extra=()):
    """A PNG written by hand (modes rcpt's encoder never writes: palette,
    gray+alpha, 16-bit)."""
    import zlib
    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xffffffff)
    raw = b"".join(b"\x00" + r for r in rows)
    out = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, ctype, 0, 0, 0))
    for t, d in extra:
        out += chunk(t, d)
    return out + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")

def handmade_pngs():
    put("image", "palette_trns.png", png(3, 2, 8, 3, [bytes([0, 1, 2]), bytes([2, 1, 0])],
        [(b"PLTE", bytes([255, 0, 0, 0, 255, 0, 0, 0, 255])), (b"tRNS", bytes([0, 128]))]))
    put("image", "gray_alpha.png", png(2, 2, 8, 4, [bytes([10, 255, 20, 0]), bytes([30, 128, 40, 64])]))
    put("image", "rgb16.png", png(2, 1, 16, 2, [struct.pack(">6H", 65535, 0, 256, 1, 2, 3)]))
    put("image", "gray1bit.png", png(1, 1, 1, 0, [bytes([0x80])]))

def images():
    handmade_pngs()
    if not os.access(RCPT, os.X_OK):
        print("make_corpus: %s missing, image seeds not written (build rcpt first)" % RCPT, file=sys.stderr)
        return
    out = os.path.join(OUT, "image")
    os.makedirs(out, exist_ok=True)
    script = r'''
local image = require("rcpt.image")
local src, out = ...
local function slurp(p) local f = assert(io.open(p, "rb")); local s = f:read("a"); f:close(); return s end
local function put(name, s) local f = assert(io.open(out .. "/" .. name, "wb")); f:write(s); f:close() end
local png = assert(image.decode(slurp(src .. "/examples/native/receipt.png")))
local jpg = assert(image.decode(slurp(src .. "/examples/photo/photo.jpg")))
local a = assert(png:crop(40, 40, 12, 10))
local b = assert(jpg:crop(jpg:width() // 2, jpg:height() // 2, 9, 7))
put("rgb.png", assert(a:convert(3):encode_png()))
put("gray.png", assert(a:convert(1):encode_png(9)))
put("rgba.png", assert(b:convert(4):encode_png(0)))
put("rgb.jpg", assert(b:convert(3):encode_jpeg(50)))
put("gray.jpg", assert(a:convert(1):encode_jpeg(90)))
'''
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(script)
    try:
        subprocess.run([RCPT, "lua", f.name, ROOT, out], check=True)
    finally:
        os.unlink(f.name)

if __name__ == "__main__":
    ocr(); jsondocs(); events(); s3xml(); dynamodb(); places(); embeddings(); vecfiles(); images()
    for t in sorted(os.listdir(OUT)):
        files = os.listdir(os.path.join(OUT, t))
        size = sum(os.path.getsize(os.path.join(OUT, t, f)) for f in files)
        print("%-14s %3d files %7d bytes" % (t, len(files), size))
