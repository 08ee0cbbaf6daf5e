"""Column types that keep money exact and datetimes timezone-aware on every database."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from itertools import repeat
from operator import attrgetter
from typing import Any

from sqlalchemy import BigInteger, Boolean, Date, DateTime, Dialect, Numeric
from sqlalchemy.types import TypeDecorator, TypeEngine

from storage.money import MONEY_CONTEXT

BindProcessor = Callable[[Any], Any]
# A whole column's values in, the same number of bound values out.
ColumnProcessor = Callable[[Sequence[Any]], Sequence[Any]]
# (the one type a column's values usually have, a conversion of a list of only that type)
FastPath = tuple[type, ColumnProcessor]


_tzinfo = attrgetter("tzinfo")


def _as_utc(value: datetime) -> datetime:
    if value.tzinfo is UTC:  # what the Xero client produces: nothing to do
        return value
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"naive datetime {value!r}: pass a timezone-aware datetime")
    return value.astimezone(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware datetime stored as UTC; naive datetimes are refused.

    PostgreSQL keeps them in `timestamptz`. SQLite has no timezone type, so values are
    stored as naive UTC text (which also sorts correctly) and come back with tzinfo=UTC.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        value = _as_utc(value)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def bulk_bind_processor(self, dialect: Dialect) -> BindProcessor | None:
        """This type's whole bind conversion as one call (see bulk_bind_processor below)."""
        generic = self.dialect_impl(dialect).bind_processor(dialect)
        if dialect.name != "sqlite" or generic is None:
            return generic

        def to_text(value: datetime | None) -> str | None:
            if value is None:
                return None
            return _as_utc(value).replace(tzinfo=None).isoformat(" ", "microseconds")

        # The text must be exactly SQLAlchemy's SQLite DATETIME format, or stored values
        # would stop comparing correctly with bound ones: checked, never assumed.
        samples = (datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC), datetime(999, 1, 2, 0, 0, 0, 7, UTC))
        return to_text if all(to_text(s) == generic(s) for s in samples) else generic

    def bulk_fast_path(self, dialect: Dialect) -> FastPath | None:
        """A column of UTC datetimes as SQLite text, in C (anything else: value by value)."""
        to_text = self.bulk_bind_processor(dialect)
        if dialect.name != "sqlite" or to_text is None or to_text.__name__ != "to_text":
            return None

        def utc_text(values: Sequence[datetime]) -> list[str]:
            if set(map(_tzinfo, values)) != {UTC}:
                return list(map(to_text, values))
            # An aware UTC value's isoformat ends in "+00:00": without it, to_text's text.
            iso = map(datetime.isoformat, values, repeat(" "), repeat("microseconds"))
            return [text[:-6] for text in iso]

        return datetime, utc_text

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class ExactDecimal(TypeDecorator[Decimal]):
    """A Decimal with a fixed scale; floats are refused so money never passes through binary.

    PostgreSQL stores NUMERIC(precision, scale). SQLite's NUMERIC affinity would turn values
    into 8-byte floats (and SUM() would add floats), so there the value is stored as an
    integer count of 10**-scale units: exact, sortable and summable in SQL.
    """

    impl = Numeric
    cache_ok = True

    def __init__(self, precision: int = 18, scale: int = 4) -> None:
        super().__init__(precision=precision, scale=scale, asdecimal=True)
        self.precision = precision
        self.scale = scale
        self._quantum = Decimal(1).scaleb(-scale)
        # The money rule (half away from zero, as PostgreSQL's numeric), so both stores agree.
        self._quantize = MONEY_CONTEXT.quantize

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(BigInteger())
        return dialect.type_descriptor(Numeric(self.precision, self.scale, asdecimal=True))

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        exact = self._exact(value)
        if dialect.name == "sqlite":
            return int(exact.scaleb(self.scale))
        return exact

    def _exact(self, value: Any) -> Decimal:
        if isinstance(value, float):
            raise TypeError(f"float {value!r} for an exact decimal column: pass a Decimal or str")
        return self._quantize(Decimal(value), self._quantum)

    def bulk_bind_processor(self, dialect: Dialect) -> BindProcessor | None:
        """process_bind_param as one call, with a fast path for a Decimal (see below)."""
        if dialect.name != "sqlite":
            return self.dialect_impl(dialect).bind_processor(dialect)
        quantize, quantum, scale, exact_of = self._quantize, self._quantum, self.scale, self._exact

        def to_units(value: Any) -> int | None:
            if value is None:
                return None
            if type(value) is Decimal:
                return int(quantize(value, quantum).scaleb(scale))
            return int(exact_of(value).scaleb(scale))

        return to_units

    def bulk_fast_path(self, dialect: Dialect) -> FastPath | None:
        """to_units above for a column of Decimals, in C: no Python call per value."""
        if dialect.name != "sqlite":
            return None
        quantize, quantum, scale = self._quantize, self._quantum, self.scale

        def to_units(values: Sequence[Decimal]) -> list[int]:
            quantized = map(quantize, values, repeat(quantum))
            return list(map(int, map(Decimal.scaleb, quantized, repeat(scale))))

        return Decimal, to_units

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        if dialect.name == "sqlite":
            return Decimal(int(value)).scaleb(-self.scale).quantize(self._quantum)
        return Decimal(value).quantize(self._quantum)

    @property
    def python_type(self) -> type[Decimal]:
        return Decimal


def money() -> ExactDecimal:
    """An amount of money: 14 integer digits and 4 decimal places (Xero allows 4)."""
    return ExactDecimal(18, 4)


def rate() -> ExactDecimal:
    """An exchange rate: Xero sends up to 10 decimal places."""
    return ExactDecimal(20, 10)


def bulk_bind_processor(column_type: TypeEngine[Any], dialect: Dialect) -> BindProcessor | None:
    """What SQLAlchemy does to one bound value of this type, as one cheap call (or None).

    For bulk writes that hand rows straight to the driver: SQLAlchemy's own processors
    chain two or three Python calls per value, which at 30 columns x 100,000 invoices is
    most of a sync's CPU. The result is the same value SQLAlchemy would bind.
    """
    custom = getattr(column_type, "bulk_bind_processor", None)
    if custom is not None:
        return custom(dialect)
    generic = column_type.dialect_impl(dialect).bind_processor(dialect)
    if generic is None:
        return None
    if isinstance(column_type, Boolean):
        # A real bool binds as SQLAlchemy binds it (1 or 0 where the database has no boolean
        # type, as on SQLite), without its per-value checks.
        bound = {True: generic(True), False: generic(False)}

        def to_bool(value: Any) -> Any:
            return bound[value] if value is True or value is False else generic(value)

        return to_bool
    if isinstance(column_type, Date) and generic(date(999, 1, 2)) == "0999-01-02":
        # SQLite keeps dates as ISO text, which is date.isoformat() exactly (checked above).
        def to_text(value: Any) -> Any:
            return value.isoformat() if type(value) is date else generic(value)

        return to_text
    return generic


def _unchanged(values: Sequence[Any]) -> Sequence[Any]:
    return values


def _ints(values: Sequence[bool]) -> list[int]:
    return list(map(int, values))


def _iso_dates(values: Sequence[date]) -> list[str]:
    return list(map(date.isoformat, values))


def _fast_path(
    column_type: TypeEngine[Any], dialect: Dialect, process: BindProcessor
) -> FastPath | None:
    custom = getattr(column_type, "bulk_fast_path", None)
    if custom is not None:
        return custom(dialect)
    if isinstance(column_type, Boolean):
        # to_bool's values: the bools themselves, or 1 and 0 where the database has no
        # boolean type. The ints matter on SQLite: Python 3.11's sqlite3 binds only exact
        # ints, floats, str and bytearray directly; a bool first goes through its adapter
        # lookup, whose miss formats an AttributeError (0.3 µs a value, five flags an invoice).
        if process(True) is True:
            return bool, _unchanged
        return (bool, _ints) if type(process(True)) is int else None
    generic = column_type.dialect_impl(dialect).bind_processor(dialect)
    # to_text's own check (see bulk_bind_processor).
    if isinstance(column_type, Date) and generic and generic(date(999, 1, 2)) == "0999-01-02":
        return date, _iso_dates
    return None


def bulk_column_processor(column_type: TypeEngine[Any], dialect: Dialect) -> ColumnProcessor | None:
    """bulk_bind_processor for a whole column at once (or None): the same values, cheaper.

    At 100,000 invoices the per-value calls of seven money, four date and five boolean
    columns were a sixth of a sync's CPU. A column whose values are all of the type the
    conversion expects (every amount a Decimal, every flag a bool), or that plus None, is
    converted by C-level map()s; any other mix goes value by value as before.
    """
    process = bulk_bind_processor(column_type, dialect)
    if process is None:
        return None
    fast = _fast_path(column_type, dialect, process)
    if fast is None:
        return lambda values: list(map(process, values))
    kind, convert = fast

    def column(values: Sequence[Any]) -> Sequence[Any]:
        kinds = set(map(type, values))
        if kinds == {kind}:
            return convert(values)
        if kinds == {kind, type(None)}:
            present = iter(convert([value for value in values if value is not None]))
            return [None if value is None else next(present) for value in values]
        return list(map(process, values))

    return column
