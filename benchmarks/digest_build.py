"""Build one organisation's digest over 100,000 open invoices: time and peak memory.

Fills a fresh database (a SQLite file, or one made on --postgres-url's server) with one
organisation's contacts and open invoices in three currencies, some paused, disputed, without
an email or with an expected date, then builds the digest (figures, skip reasons and the first
page of ranked lines) and renders its blocks. Prints the median and worst build time over
--runs (wall clock, and this process's CPU time, which a busy shared machine inflates less)
and the peak memory the build allocates (tracemalloc, in a separate run so tracing
does not slow the timed ones) plus the process's peak RSS. Goal: ≤ 0.5 s and ≤ 300 MB.
Figures only: nothing here asserts a timing.

    .venv/bin/python benchmarks/digest_build.py
    .venv/bin/python benchmarks/digest_build.py --postgres-url postgresql://postgres@127.0.0.1/test
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, update  # noqa: E402
from sqlalchemy.pool import NullPool  # noqa: E402

from bot.blocks.digest import digest_blocks  # noqa: E402
from bot.chasing.digest_builder import DigestBuilder  # noqa: E402
from storage import db, repositories  # noqa: E402
from storage.models import Contact, Invoice  # noqa: E402
from storage.settings import update_organisation_settings  # noqa: E402

NOW = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
TODAY = NOW.date()
CURRENCIES = (("NZD", None), ("AUD", Decimal("0.9200000000")), ("USD", Decimal("0.6100000000")))


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128)))


def fill(url: str, invoices: int, contacts: int, seed: int = 7) -> int:
    """One organisation with `contacts` customers and `invoices` open invoices; its id."""
    rng = random.Random(seed)
    factory = db.make_session_factory(db.make_engine(url))
    with db.session_scope(factory) as session:
        connection = repositories.save_connection(
            session, workspace_id=None, tenant_id="bench-tenant", tenant_name="Bench Ltd",
            short_code="!Bench", base_currency="NZD", timezone="NEWZEALANDSTANDARDTIME",
        )
        connection_id = connection.id
        update_organisation_settings(session, connection_id, by="bench",
                                     minimum_chase_amount=Decimal("50"),
                                     digest_channel_id="C0BENCH")
    contact_ids = [_uuid(rng) for _ in range(contacts)]
    with db.session_scope(factory) as session:
        repositories.upsert_contacts(session, connection_id, [
            {"xero_contact_id": xero_id, "name": f"Customer {n:05d} Ltd", "is_customer": True}
            for n, xero_id in enumerate(contact_ids)
        ], now=NOW)
    with db.session_scope(factory) as session:
        ids = repositories.contact_ids_by_xero_id(session, connection_id, contact_ids)
        # Nine customers in ten have an address reminders may go to.
        repositories.add_contact_emails(session, [
            {"contact_id": pk, "email": f"ap{pk}@example.com", "include_in_emails": True}
            for n, pk in enumerate(ids.values()) if n % 10
        ])
        session.execute(update(Contact).where(Contact.id.in_(list(ids.values())[::50]))
                        .values(chasing_paused=True))
    rows = []
    for number in range(invoices):
        currency, rate = CURRENCIES[number % 7 % 3]
        amount = Decimal(rng.randrange(1_000, 2_000_000)) / 100
        due = TODAY + timedelta(days=rng.randrange(-200, 45))
        rows.append({
            "xero_invoice_id": _uuid(rng),
            "invoice_number": f"INV-{number:06d}",
            "type": "ACCREC",
            "status": "AUTHORISED",
            "xero_contact_id": contact_ids[rng.randrange(contacts)],
            "date": due - timedelta(days=30),
            "due_date": due,
            "currency_code": currency,
            "currency_rate": rate or Decimal("1"),
            "total": amount,
            "amount_due": amount,
            "amount_paid": Decimal("0"),
            "expected_payment_date": TODAY + timedelta(days=10) if number % 40 == 0 else None,
            "updated_date_utc": NOW,
        })
    with db.session_scope(factory) as session:
        for start in range(0, len(rows), 5000):
            repositories.upsert_invoices(session, connection_id, rows[start:start + 5000],
                                         now=NOW)
    with db.session_scope(factory) as session:
        session.execute(update(Invoice).where(Invoice.id % 97 == 0)
                        .values(chasing_paused=True))
        session.execute(update(Invoice).where(Invoice.id % 89 == 0)
                        .values(disputed=True, disputed_reason="Wrong quantity"))
    return connection_id


def build_once(url: str, connection_id: int) -> tuple[float, float, int]:
    """One build of the digest and its blocks: (wall seconds, CPU seconds, open invoices)."""
    factory = db.make_session_factory(db.make_engine(url))
    builder = DigestBuilder(factory, lambda: NOW)
    started, cpu = time.perf_counter(), time.process_time()
    digest = builder.build(connection_id)
    assert digest is not None
    blocks = digest_blocks(digest)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    factory.kw["bind"].dispose()
    return seconds, cpu, digest.open.count if blocks else 0


@contextlib.contextmanager
def fresh_database(server_url: str | None, folder: str) -> Iterator[str]:
    """A new empty database: a SQLite file in `folder`, or one created on the server."""
    if not server_url:
        yield f"sqlite:///{folder}/digest-bench.sqlite3"
        return
    admin = create_engine(db.normalize_url(server_url), isolation_level="AUTOCOMMIT",
                          poolclass=NullPool)
    name = f"chaser_bench_{uuid.uuid4().hex[:12]}"
    with admin.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield admin.url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def peak_rss_kib() -> int:
    """This process's peak resident memory. VmHWM, not ru_maxrss: Linux keeps ru_maxrss across
    exec, so a child started from the filled parent would report the parent's peak."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def measure(url: str, connection_id: int, runs: int) -> dict[str, object]:
    """Build `runs` times in this process (a fresh one: its peak RSS is the build's own)."""
    baseline_kib = peak_rss_kib()
    build_once(url, connection_id)  # warm: imports, statement caches, the OS page cache
    times, cpus = [], []
    counted = 0
    for _ in range(runs):
        seconds, cpu, counted = build_once(url, connection_id)
        times.append(seconds)
        cpus.append(cpu)
    rss_kib = peak_rss_kib()
    tracemalloc.start()
    build_once(url, connection_id)
    _, traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {
        "open_invoices": counted,
        "build_median_seconds": round(statistics.median(times), 3),
        "build_worst_seconds": round(max(times), 3),
        # CPU time of this process alone: what the build costs on a machine nobody shares.
        "build_median_cpu_seconds": round(statistics.median(cpus), 3),
        # Python allocations during one build, and the building process's peak RSS (imports
        # and interpreter included) next to its RSS before the first build.
        "build_peak_traced_mb": round(traced_peak / 1e6, 1),
        "process_peak_rss_mb": round(rss_kib / 1024, 1),
        "process_rss_before_build_mb": round(baseline_kib / 1024, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--invoices", type=int, default=100_000)
    parser.add_argument("--contacts", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--postgres-url",
                        help="a PostgreSQL server URL: the benchmark creates (and drops) a fresh "
                             "database on it; default: a fresh SQLite file")
    parser.add_argument("--measure", nargs=2, metavar=("URL", "CONNECTION_ID"),
                        help=argparse.SUPPRESS)  # the child process that builds
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure[0], int(args.measure[1]), args.runs)))
        return

    with tempfile.TemporaryDirectory() as folder, fresh_database(args.postgres_url,
                                                                 folder) as url:
        db.upgrade(url)
        started = time.perf_counter()
        connection_id = fill(url, args.invoices, args.contacts)
        fill_seconds = time.perf_counter() - started
        # Build in a fresh process, so its memory figures are not the fill's.
        child = subprocess.run(
            [sys.executable, __file__, "--measure", url, str(connection_id),
             "--runs", str(args.runs)],
            check=True, capture_output=True, text=True,
        )
        figures = json.loads(child.stdout.strip().splitlines()[-1])

    print(json.dumps({
        "database": "postgresql" if args.postgres_url else "sqlite",
        "fill_seconds": round(fill_seconds, 1),
        **figures,
        "date": date.today().isoformat(),
    }))


if __name__ == "__main__":
    main()
