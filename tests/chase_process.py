"""A chase run in a process of its own, for tests that kill one or run two at once.

python -m tests.chase_process DATABASE_URL SMTP_URL CONNECTION_ID NOW_ISO [GO_FILE]
Plans, waits for GO_FILE to exist (so two processes send at the same moment), sends, and
prints the result as JSON.
"""

from __future__ import annotations

import json
import sys
import time
from datetime import datetime
from pathlib import Path

from bot.chasing.mailer import SmtpMailer
from bot.chasing.plan import plan_chase
from bot.chasing.reminders import ReminderSender
from storage.db import make_engine, make_session_factory

WAIT_LIMIT_SECONDS = 60


def main(argv: list[str]) -> None:
    database_url, smtp_url, connection_id, now_text = argv[:4]
    go_file = Path(argv[4]) if len(argv) > 4 else None
    now = datetime.fromisoformat(now_text)
    engine = make_engine(database_url)
    sessions = make_session_factory(engine)
    plan = plan_chase(sessions, int(connection_id), now)
    print(json.dumps({"planned": len(plan.emails)}), flush=True)
    if go_file is not None:
        deadline = time.monotonic() + WAIT_LIMIT_SECONDS
        while not go_file.exists() and time.monotonic() < deadline:
            time.sleep(0.005)
    sender = ReminderSender(session_factory=sessions, mailer=SmtpMailer(smtp_url),
                            clock=lambda: now, actor=f"process-{connection_id}")
    result = sender.run(plan)
    print(json.dumps({"sent": result.emails_sent, "already_claimed": result.already_claimed,
                      "failed": result.failed}), flush=True)
    engine.dispose()


if __name__ == "__main__":
    main(sys.argv[1:])
