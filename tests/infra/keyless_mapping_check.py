"""The provider's attribute mapping, evaluated as Google evaluates it, for tests/infra/service-account-keyless.sh.

Usage: keyless_mapping_check.py PROVIDER_FILE SESSION_ARN ROLE_ARN: attribute.aws_role must be
the role's assumed-role ARN (what the bindings name), and google.subject at most Google's 127
bytes. Prints the subject and its length last; fails with an assertion's message.
"""
import re
import sys

path, arn, role = sys.argv[1:]
with open(path) as f:
    lines = f.read().splitlines()
mapping = next(line.split("=", 1)[1] for line in lines if line.startswith("attribute-mapping="))


def split_top(text, sep):
    """Split at sep outside quotes."""
    parts, quoted, cur = [], False, ""
    for ch in text:
        if ch == "'":
            quoted = not quoted
        if ch == sep and not quoted:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    return parts + [cur]


def extract(value, template):
    """CEL's extract: the text between the template's prefix and suffix."""
    prefix, rest = template.split("{", 1)
    suffix = rest.split("}", 1)[1]
    start = value.find(prefix) if prefix else 0
    if start < 0:
        raise ValueError(f"{value!r} does not contain {prefix!r}")
    start += len(prefix)
    end = value.find(suffix, start) if suffix else len(value)
    if end < 0:
        raise ValueError(f"{value!r} has no {suffix!r} after {prefix!r}")
    return value[start:end]


def term(t):
    t = t.strip()
    if re.fullmatch(r"'[^']*'", t):
        return t[1:-1]
    m = re.fullmatch(r"assertion\.arn(?:\.(contains|extract)\('([^']*)'\))?", t)
    if not m:
        raise ValueError(f"not in the CEL subset this test evaluates: {t!r}")
    if m.group(1) == "contains":
        return m.group(2) in arn
    if m.group(1) == "extract":
        return extract(arn, m.group(2))
    return arn


def evaluate(expr):
    cond, _, rest = expr.partition("?")
    if rest:
        yes, no = split_top(rest, ":")
        return evaluate(yes) if term(cond) else evaluate(no)
    return "".join(term(t) for t in split_top(expr, "+"))


attributes = {}
for pair in split_top(mapping, ","):
    key, expr = pair.split("=", 1)
    attributes[key.strip()] = evaluate(expr)
subject = attributes.get("google.subject", "")
assert attributes.get("attribute.aws_role") == role, f"attribute.aws_role is {attributes.get('attribute.aws_role')!r}, not {role!r}"
assert len(subject.encode()) <= 127, f"google.subject is {len(subject.encode())} bytes (Google allows 127): {subject!r}"
print(f"google.subject: {subject} ({len(subject.encode())} bytes)")
