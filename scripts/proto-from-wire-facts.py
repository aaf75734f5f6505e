#!/usr/bin/env python3
"""Writes proto/feast/... and proto/google/protobuf/... from ../shared/feast/wire-facts.md.

The tables in wire-facts.md list every message and enum reachable from feast.core.Registry with
field numbers, labels, types and names. This script turns them into .proto files, one per
`declared in` file, so that the schema we compile is exactly the one the facts describe.
It is run by hand when wire-facts.md changes; its output is committed.

    scripts/proto-from-wire-facts.py ../shared/feast/wire-facts.md proto/
"""
import collections
import os
import re
import sys

PACKAGES = ("feast.core", "feast.types", "google.protobuf")


def split_name(full):
    for p in PACKAGES:
        if full.startswith(p + "."):
            return p, full[len(p) + 1:].split(".")
    raise SystemExit("unknown package in " + full)


def parse(path):
    text = open(path, encoding="utf-8").read()
    blocks = re.split(r"^## ", text, flags=re.M)[1:]
    messages, enums = [], []
    for b in blocks:
        lines = b.splitlines()
        head = lines[0].strip()
        m = re.match(r"(enum )?`([^`]+)`", head)
        if not m:
            continue
        is_enum, full = bool(m.group(1)), m.group(2)
        decl = None
        reserved = []
        for ln in lines[1:4]:
            dm = re.search(r"declared in `([^`]+)`", ln)
            if dm:
                decl = dm.group(1)
            rm = re.search(r"reserved: ([0-9, -]+)", ln)
            if rm:
                reserved = [r.strip() for r in rm.group(1).split(",")]
        rows = [ln for ln in lines if ln.startswith("| ") and not ln.startswith("| #")
                and not ln.startswith("| value") and not ln.startswith("|---")]
        if is_enum:
            vals = []
            for r in rows:
                c = [x.strip() for x in r.strip("|").split("|")]
                vals.append((int(c[0]), c[1].strip("`")))
            enums.append(dict(full=full, decl=decl, values=vals))
        else:
            fields = []
            for r in rows:
                c = [x.strip() for x in r.strip("|").split("|")]
                num, label, typ, name, json, dep = c[0], c[1], c[2].strip("`"), c[3].strip("`"), c[4].strip("`"), c[5]
                fields.append(dict(num=int(num), label=label, type=typ, name=name, json=json, dep=(dep == "yes")))
            messages.append(dict(full=full, decl=decl, fields=fields, reserved=reserved))
    return messages, enums


SCALARS = {"string", "bytes", "bool", "int32", "int64", "uint32", "uint64", "float", "double",
           "sint32", "sint64", "fixed32", "fixed64", "sfixed32", "sfixed64"}


def tref(t):
    if t in SCALARS:
        return t
    return "." + t


def main():
    facts, out = sys.argv[1], sys.argv[2]
    messages, enums = parse(facts)
    by_full = {m["full"]: m for m in messages}
    enum_full = {e["full"]: e for e in enums}
    files = collections.OrderedDict()
    decl_of = {}
    for m in messages:
        files.setdefault(m["decl"], []).append(("m", m))
        decl_of[m["full"]] = m["decl"]
    for e in enums:
        files.setdefault(e["decl"], []).append(("e", e))
        decl_of[e["full"]] = e["decl"]
    # feast.types.ValueType is a fieldless container message of the enum; declared with it.
    for f, items in files.items():
        pkg = None
        tops = collections.OrderedDict()   # top-level name -> node
        def node(path):
            cur = tops.setdefault(path[0], dict(kind=None, obj=None, kids=collections.OrderedDict()))
            for p in path[1:]:
                cur = cur["kids"].setdefault(p, dict(kind=None, obj=None, kids=collections.OrderedDict()))
            return cur
        imports = set()
        for kind, obj in items:
            pkg, path = split_name(obj["full"])
            n = node(path)
            n["kind"], n["obj"] = kind, obj
            if kind == "m":
                for fl in obj["fields"]:
                    t = fl["type"]
                    mm = re.match(r"map<(\w+), ([\w.]+)>", t)
                    types = [mm.group(2)] if mm else [t]
                    for ty in types:
                        if ty in SCALARS:
                            continue
                        d = decl_of.get(ty)
                        if d is None:
                            raise SystemExit("no declaration for " + ty)
                        if d != f:
                            imports.add(d)
        lines = ["// Feast registry schema, written by scripts/proto-from-wire-facts.py from",
                 "// ../shared/feast/wire-facts.md. Do not edit by hand: change the facts, rerun the script.",
                 'syntax = "proto3";', "", "package %s;" % pkg, ""]
        for i in sorted(imports):
            lines.append('import "%s";' % i)
        if imports:
            lines.append("")

        def emit(name, n, ind):
            pad = "  " * ind
            if n["kind"] == "e":
                lines.append("%senum %s {" % (pad, name))
                for v, vn in n["obj"]["values"]:
                    lines.append("%s  %s = %d;" % (pad, vn, v))
                lines.append("%s}" % pad)
                return
            lines.append("%smessage %s {" % (pad, name))
            for kn, kid in n["kids"].items():
                emit(kn, kid, ind + 1)
            if n["obj"] is not None:
                obj = n["obj"]
                if obj["reserved"]:
                    lines.append("%s  reserved %s;" % (pad, ", ".join(r.replace("-", " to ") for r in obj["reserved"])))
                def field_line(fl, ip):
                    opts = " [deprecated = true]" if fl["dep"] else ""
                    t = fl["type"]
                    mm = re.match(r"map<(\w+), ([\w.]+)>", t)
                    ts = "map<%s, %s>" % (mm.group(1), tref(mm.group(2))) if mm else tref(t)
                    if fl["label"] == "repeated":
                        ts = "repeated " + ts
                    extra = ""
                    if fl["label"] == "optional":
                        extra = "  // proto3 `optional` in Feast; protoc-c 1.4 refuses it, wire format is the same"
                    lines.append("%s%s %s = %d%s;%s" % (ip, ts, fl["name"], fl["num"], opts, extra))
                done_oneofs = set()
                for fl in obj["fields"]:
                    lab = fl["label"]
                    if lab.startswith("oneof "):
                        oneof = lab[len("oneof "):]
                        if oneof in done_oneofs:
                            continue
                        done_oneofs.add(oneof)
                        # a oneof is declared as one block, wherever its members' numbers fall
                        lines.append("%s  oneof %s {" % (pad, oneof))
                        for m2 in obj["fields"]:
                            if m2["label"] == lab:
                                field_line(m2, pad + "    ")
                        lines.append("%s  }" % pad)
                    else:
                        field_line(fl, pad + "  ")
            lines.append("%s}" % pad)

        for tn, n in tops.items():
            emit(tn, n, 0)
            lines.append("")
        dst = os.path.join(out, f)
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        with open(dst, "w") as fh:
            fh.write("\n".join(lines))
    print("%d messages, %d enums in %d files" % (len(messages), len(enums), len(files)))


if __name__ == "__main__":
    main()
