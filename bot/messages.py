"""User-facing text that more than one place says, kept together so it reads as one voice."""

LATER_ISSUE = "`chaser {command}` is not built yet: {what} arrives in a later release."

CONFIG_HINT = "Set it in the environment or in a .env file, then run `chaser doctor`."

DB_NOT_MIGRATED = "The database schema is not up to date. Run `chaser db upgrade`."

SECRET_KEY_HINT = (
    "The key (CHASER_SECRET_KEY or data/secret.key) must be the one the stored Xero tokens "
    "were encrypted with; without it, reconnect Xero with `chaser connect` to store new ones."
)
