"""Xero's query language: `where` (a Dynamic LINQ subset), `order`, If-Modified-Since."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from email.utils import parsedate_to_datetime
from typing import Any

Getter = Callable[[Any], Any]
Predicate = Callable[[Any], bool]


class QueryError(ValueError):
    """A where/order/paging problem; Xero answers 400 QueryParseException (ErrorNumber 16)."""


@dataclass(frozen=True, slots=True)
class Field:
    type: str  # .NET-ish names, used in Xero's error messages: String, Decimal, DateTime?, Guid...
    get: Getter


@dataclass(frozen=True, slots=True)
class Schema:
    name: str  # "Invoice", "Contact", "User": used in "No property or field ... in type ..."
    fields: dict[str, Field]


_TOKEN = re.compile(
    r"""\s*(?:
    (?P<str>"(?:[^"]|"")*") | (?P<char>'[^']*') | (?P<num>-?\d+(?:\.\d+)?) |
    (?P<op>&&|\|\||==|!=|>=|<=|>|<|=|!|\(|\)|,|\.) | (?P<id>[A-Za-z_][A-Za-z0-9_]*))""",
    re.X,
)
_NUMERIC = {"Decimal", "Int32", "Double"}


def _tokens(text: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise QueryError(f"Syntax error '{text[pos : pos + 1]}'")
        kind = m.lastgroup or ""
        value = m.group(kind)
        if kind == "char":
            if len(value) != 3:
                raise QueryError("Character literal must contain exactly one character")
            kind, value = "str", '"' + value[1] + '"'
        if kind == "id" and value.upper() in ("AND", "OR", "NOT"):
            kind, value = "op", {"AND": "&&", "OR": "||", "NOT": "!"}[value.upper()]
        out.append((kind, value))
        pos = m.end()
    return out


def _norm(value: Any) -> Any:
    """Make dates and datetimes comparable (naive UTC) and Guids case-insensitive."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day)
    return value


class _Parser:
    def __init__(self, text: str, schema: Schema) -> None:
        self.toks, self.i, self.schema = _tokens(text), 0, schema

    def peek(self, k: int = 0) -> tuple[str, str]:
        return self.toks[self.i + k] if self.i + k < len(self.toks) else ("end", "")

    def take(self, value: str | None = None) -> tuple[str, str]:
        tok = self.peek()
        if value is not None and tok[1] != value:
            raise QueryError("')' or operator expected" if value == ")" else f"'{value}' expected")
        self.i += 1
        return tok

    def parse(self) -> Predicate:
        if not self.toks:
            raise QueryError("Expression expected")
        pred = self.or_()
        if self.peek()[0] != "end":
            raise QueryError(f"Syntax error '{self.peek()[1]}'")
        return pred

    def or_(self) -> Predicate:
        parts = [self.and_()]
        while self.peek()[1] == "||":
            self.take()
            parts.append(self.and_())
        return parts[0] if len(parts) == 1 else (lambda r: any(p(r) for p in parts))

    def and_(self) -> Predicate:
        parts = [self.not_()]
        while self.peek()[1] == "&&":
            self.take()
            parts.append(self.not_())
        return parts[0] if len(parts) == 1 else (lambda r: all(p(r) for p in parts))

    def not_(self) -> Predicate:
        if self.peek()[1] == "!":
            self.take()
            inner = self.not_()
            return lambda r: not inner(r)
        return self.comparison()

    def comparison(self) -> Predicate:
        ltype, lget = self.operand()
        op = self.peek()[1]
        if op not in ("==", "!=", ">", "<", ">=", "<=", "="):
            if ltype not in ("Boolean", "Boolean?"):
                raise QueryError("Expression of type 'Boolean' expected")
            return lambda r: lget(r) is True
        self.take()
        rtype, rget = self.operand()
        return _compare("==" if op == "=" else op, ltype, lget, rtype, rget)

    def operand(self) -> tuple[str, Getter]:
        kind, value = self.take()
        if kind == "end":
            raise QueryError("Expression expected")
        if value == "(":
            inner = self.or_()
            self.take(")")
            return "Boolean", lambda r: inner(r)
        if kind == "str":
            text = value[1:-1].replace('""', '"')
            return "String", lambda r: text
        if kind == "num":
            number = Decimal(value)
            return ("Double" if "." in value else "Int32"), lambda r: number
        if kind != "id":
            raise QueryError(f"Expression expected at '{value}'")
        low = value.lower()
        if low in ("null", "true", "false"):
            const = None if low == "null" else low == "true"
            return ("Object" if const is None else "Boolean"), lambda r: const
        if value == "Guid" and self.peek()[1] == "(":
            return "Guid", self.guid_literal()
        if value == "DateTime":
            return "DateTime", self.datetime_literal()
        return self.member(value)

    def guid_literal(self) -> Getter:
        self.take("(")
        kind, text = self.take()
        self.take(")")
        try:
            guid = str(uuid.UUID(text[1:-1])) if kind == "str" else None
        except ValueError:
            guid = None
        if guid is None:
            raise QueryError(f"Unrecognized Guid format: {text}")
        return lambda r: guid

    def datetime_literal(self) -> Getter:
        if self.peek()[1] == ".":  # DateTime.Parse("2025-01-01T00:00:00")
            self.take()
            if self.take()[1] != "Parse":
                raise QueryError("No applicable method exists in type 'DateTime'")
            self.take("(")
            kind, text = self.take()
            self.take(")")
            try:
                moment = _norm(datetime.fromisoformat(text[1:-1]))
            except ValueError:
                raise QueryError(f"String was not recognized as a valid DateTime: {text}") from None
            return lambda r: moment
        self.take("(")
        parts = []
        while True:
            kind, value = self.take()
            if kind != "num" or "." in value:
                raise QueryError("No matching constructor in type 'DateTime'")
            parts.append(int(value))
            if self.take()[1] == ")":
                break
        try:
            moment = datetime(*parts) if len(parts) in (3, 6) else None
        except ValueError:
            moment = None
        if moment is None:
            raise QueryError("No matching constructor in type 'DateTime'")
        return lambda r: moment

    def member(self, name: str) -> tuple[str, Getter]:
        # Dotted names are fields ("Contact.ContactID") until a call: "Name.Contains(...)".
        while self.peek()[1] == "." and self.peek(2)[1] != "(" and self.peek(1)[0] == "id":
            self.take()
            name += "." + self.take()[1]
        spec = self.schema.fields.get(name)
        if spec is None:
            raise QueryError(f"No property or field '{name}' exists in type '{self.schema.name}'")
        ftype, get = spec.type, spec.get
        while self.peek()[1] == "." and self.peek(2)[1] == "(":
            self.take()
            method = self.take()[1]
            self.take("(")
            if method in ("ToLower", "ToUpper", "ToString"):
                self.take(")")
                if method != "ToString" and ftype != "String":
                    raise QueryError(f"No applicable method '{method}' exists in type '{ftype}'")
                fn = {"ToLower": str.lower, "ToUpper": str.upper, "ToString": str}[method]
                get = (lambda g, f: lambda r: None if g(r) is None else f(g(r)))(get, fn)
                ftype = "String"
            elif method in ("Contains", "StartsWith", "EndsWith") and ftype == "String":
                kind, text = self.take()
                self.take(")")
                if kind != "str":
                    raise QueryError(f"No applicable method '{method}' exists in type 'String'")
                needle = text[1:-1].replace('""', '"')
                test = {
                    "Contains": str.__contains__,
                    "StartsWith": str.startswith,
                    "EndsWith": str.endswith,
                }[method]
                get = (lambda g, t, n: lambda r: g(r) is not None and t(g(r), n))(get, test, needle)
                ftype = "Boolean"
            else:
                raise QueryError(f"No applicable method '{method}' exists in type '{ftype}'")
        return ftype, get


def _compare(op: str, lt: str, lget: Getter, rt: str, rget: Getter) -> Predicate:
    base_l, base_r = lt.rstrip("?"), rt.rstrip("?")
    null_ok = "Object" in (lt, rt) and op in ("==", "!=")
    ok = (
        null_ok
        or base_l == base_r
        or {base_l, base_r} <= _NUMERIC
        or {base_l, base_r} == {"Guid", "String"}
    )
    if not ok or (op not in ("==", "!=") and "Boolean" in (base_l, base_r)):
        raise QueryError(f"Operator '{op}' incompatible with operand types '{lt}' and '{rt}'")
    guid = "Guid" in (base_l, base_r)

    def value(get: Getter, r: Any) -> Any:
        v = _norm(get(r))
        return v.lower() if guid and isinstance(v, str) else v

    def pred(r: Any) -> bool:
        a, b = value(lget, r), value(rget, r)
        if op == "==":
            return a == b
        if op == "!=":
            return a != b
        if a is None or b is None:
            return False
        return {">": a > b, "<": a < b, ">=": a >= b, "<=": a <= b}[op]

    return pred


def compile_where(text: str, schema: Schema) -> Predicate:
    """Compile a `where` string against a schema; raises QueryError as Xero would answer 400."""
    return _Parser(text, schema).parse()


def compile_order(text: str, schema: Schema) -> list[tuple[Getter, bool]]:
    """`order=DueDate DESC, InvoiceNumber` -> [(getter, descending), ...]."""
    keys = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        words = part.split()
        name, direction = words[0], (words[1].upper() if len(words) > 1 else "ASC")
        spec = schema.fields.get(name)
        if spec is None:
            raise QueryError(f"No property or field '{name}' exists in type '{schema.name}'")
        if len(words) > 2 or direction not in ("ASC", "DESC"):
            raise QueryError(f"Syntax error '{part}'")
        keys.append((spec.get, direction == "DESC"))
    return keys


def order_key(get: Getter) -> Callable[[Any], tuple[bool, Any]]:
    """A sort key for one `order` field: nulls first ascending, like Xero's SQL ordering."""

    def key(record: Any) -> tuple[bool, Any]:
        value = get(record)
        return value is not None, _norm(value)

    return key


def sort_records(records: list, keys: list[tuple[Getter, bool]]) -> list:
    """Stable multi-key sort in place, least significant key first."""
    for get, desc in reversed(keys):
        records.sort(key=order_key(get), reverse=desc)
    return records


def parse_if_modified_since(header: str) -> datetime:
    """ISO-8601 (xero-python) or RFC 1123 (pyxero); naive means UTC; ValueError if neither."""
    text = header.strip()
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        try:
            moment = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            raise ValueError(f"unparseable If-Modified-Since: {header!r}") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def parse_csv(text: str | None) -> list[str]:
    """Xero list parameters: comma separated, optionally quoted (`"INV-1","INV-2"`)."""
    return [p.strip().strip('"').strip() for p in (text or "").split(",") if p.strip().strip('"')]


def _f(kind: str, attr: str) -> Field:
    return Field(kind, lambda r, a=attr: getattr(r, a))


def invoice_schema(contact_of: Callable[[Any], Any]) -> Schema:
    """Fields `where`/`order` accept on Invoices; contact_of resolves the embedded Contact."""
    fields = {
        name: _f(kind, attr)
        for name, kind, attr in (
            ("Type", "String", "type"),
            ("Status", "String", "status"),
            ("InvoiceNumber", "String", "number"),
            ("Reference", "String", "reference"),
            ("CurrencyCode", "String", "currency"),
            ("LineAmountTypes", "String", "line_amount_types"),
            ("InvoiceID", "Guid", "invoice_id"),
            ("Date", "DateTime?", "date"),
            ("DueDate", "DateTime?", "due_date"),
            ("ExpectedPaymentDate", "DateTime?", "expected"),
            ("FullyPaidOnDate", "DateTime?", "fully_paid_on"),
            ("UpdatedDateUTC", "DateTime?", "updated"),
            ("AmountDue", "Decimal", "amount_due"),
            ("AmountPaid", "Decimal", "amount_paid"),
            ("AmountCredited", "Decimal", "amount_credited"),
            ("Total", "Decimal", "total"),
            ("SubTotal", "Decimal", "subtotal"),
            ("TotalTax", "Decimal", "tax"),
            ("CurrencyRate", "Decimal", "rate"),
            ("SentToContact", "Boolean", "sent"),
        )
    }
    fields |= {
        "HasAttachments": Field("Boolean", lambda r: False),
        "IsDiscounted": Field("Boolean", lambda r: False),
        "Contact.ContactID": Field("Guid", lambda r: contact_of(r).contact_id),
        "Contact.Name": Field("String", lambda r: contact_of(r).name),
        "Contact.ContactNumber": Field("String", lambda r: contact_of(r).contact_number),
        "Contact.EmailAddress": Field("String", lambda r: contact_of(r).email),
    }
    return Schema("Invoice", fields)


CONTACT_SCHEMA = Schema(
    "Contact",
    {
        name: _f(kind, attr)
        for name, kind, attr in (
            ("ContactID", "Guid", "contact_id"),
            ("ContactNumber", "String", "contact_number"),
            ("AccountNumber", "String", "account_number"),
            ("ContactStatus", "String", "status"),
            ("Name", "String", "name"),
            ("FirstName", "String", "first_name"),
            ("LastName", "String", "last_name"),
            ("EmailAddress", "String", "email"),
            ("DefaultCurrency", "String", "currency"),
            ("IsSupplier", "Boolean", "is_supplier"),
            ("IsCustomer", "Boolean", "is_customer"),
            ("UpdatedDateUTC", "DateTime?", "updated"),
            ("MergedToContactID", "Guid?", "merged_to"),
        )
    },
)

# Users are filtered as (SandboxUser, tenant_id) pairs because UserID and role are per tenant.
USER_SCHEMA = Schema(
    "User",
    {
        "UserID": Field("Guid", lambda p: p[0].user_id(p[1])),
        "EmailAddress": Field("String", lambda p: p[0].email),
        "FirstName": Field("String", lambda p: p[0].first_name),
        "LastName": Field("String", lambda p: p[0].last_name),
        "IsSubscriber": Field("Boolean", lambda p: p[0].is_subscriber),
        "OrganisationRole": Field("String", lambda p: p[0].roles[p[1]]),
        "UpdatedDateUTC": Field("DateTime?", lambda p: p[0].updated),
    },
)
